vcl 4.1;

# purgehook.vcl: the VCL purgehook's varnish provider speaks to.
# Checked against Varnish 7.1 with xkey from varnish-modules 0.20
# (Debian 12: apt-get install varnish varnish-modules).
#
# What purgehook sends (docs/providers/varnish.md):
#
#   url        PURGE /path?query          Host: www.example.com
#   tag        PURGE /                    xkey-purge: tag1 tag2 ...
#   prefix     BAN   /                    x-ban-host: www.example.com
#                                         x-ban-url: ^/news        (a regex)
#   host       BAN   /                    x-ban-host: www.example.com
#   everything BAN   /                    x-ban-all: true
#
# With soft_purge the PURGE requests also carry "purge-mode: soft": objects
# are expired but kept for grace, so the next visitor gets the stale copy
# while Varnish fetches a fresh one in the background.
#
# Objects are tagged by the origin's xkey response header (space-separated
# keys; several xkey headers allowed). Bans match only obj.* (x-url and
# x-host, stored on each object below), so the ban lurker can retire them
# in the background instead of every request testing them.

import std;
import purge;
import xkey;

# Point this at your origin. purgehook's tests replace host and port.
backend default {
    .host = "127.0.0.1";
    .port = "8080";
}

# Who may purge: the host purgehook runs on. Everyone else gets 403.
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE" || req.method == "BAN") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
    }

    if (req.method == "PURGE") {
        if (req.http.xkey-purge) {
            if (req.http.purge-mode == "soft") {
                set req.http.n-gone = xkey.softpurge(req.http.xkey-purge);
            } else {
                set req.http.n-gone = xkey.purge(req.http.xkey-purge);
            }
            return (synth(200, "Invalidated " + req.http.n-gone + " objects"));
        }
        # A URL purge: look the object up (by URL and Host, as the
        # built-in vcl_hash does) and purge it in vcl_hit / vcl_miss, which
        # covers every Vary variant.
        return (hash);
    }

    if (req.method == "BAN") {
        if (req.http.x-ban-all == "true") {
            set req.http.x-ban = "obj.status != 0";
        } else if (!req.http.x-ban-host) {
            return (synth(400, "BAN needs x-ban-host or x-ban-all"));
        } else if (req.http.x-ban-host ~ "\s" || req.http.x-ban-url ~ "\s") {
            # A space would end the argument and start another condition.
            return (synth(400, "BAN arguments must not contain spaces"));
        } else if (req.http.x-ban-url) {
            # x-ban-url is an anchored regex of the path prefix. Ban
            # arguments are not quoted: std.ban takes quotes literally. So
            # purgehook sends no spaces, quotes or backslashes (it escapes
            # regex metacharacters as one-character classes, [.]).
            set req.http.x-ban = "obj.http.x-host == " + std.tolower(req.http.x-ban-host) +
                " && obj.http.x-url ~ " + req.http.x-ban-url;
        } else {
            set req.http.x-ban = "obj.http.x-host == " + std.tolower(req.http.x-ban-host);
        }
        # std.ban reports a malformed expression instead of ignoring it.
        if (std.ban(req.http.x-ban)) {
            return (synth(200, "Ban added"));
        }
        return (synth(400, "Ban refused: " + std.ban_error()));
    }
}

sub purgehook_purge {
    if (req.http.purge-mode == "soft") {
        set req.http.n-gone = purge.soft();
    } else {
        set req.http.n-gone = purge.hard();
    }
    return (synth(200, "Purged " + req.http.n-gone + " objects"));
}

sub vcl_hit {
    if (req.method == "PURGE") {
        call purgehook_purge;
    }
}

sub vcl_miss {
    if (req.method == "PURGE") {
        call purgehook_purge;
    }
}

sub vcl_backend_response {
    # What bans match on: the URL and the host the object was fetched for.
    set beresp.http.x-url = bereq.url;
    set beresp.http.x-host = std.tolower(regsub(bereq.http.host, ":[0-9]+$", ""));
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
    # Keep the bookkeeping private; purgehook's own warm-up requests still
    # see the xkey header, which is how it learns which pages carry a tag.
    unset resp.http.x-url;
    unset resp.http.x-host;
    if (!(req.http.X-Warmup == "true" && client.ip ~ purgers)) {
        unset resp.http.xkey;
    }
}
