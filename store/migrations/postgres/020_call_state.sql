-- /v1/failures lists failed calls, newest first, without reading every call.
CREATE INDEX ph_call_state ON ph_call (state, id);
