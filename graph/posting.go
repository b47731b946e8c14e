package graph

import (
	"math/bits"
	"slices"
)

// posting is the set of one key's URL ids. It starts as a sorted slice: a
// key most often names one page or a few, and pages are mostly learned in
// id order, so adding one is an append. It becomes a bitmap over the ids
// once the slice would take more memory than the bitmap: a key most pages
// of a site show (a footer's tag, a layout's) then costs a bit per page,
// adding or removing a page in any order takes constant time, and reading
// the pages back in order is a walk over words.
type posting struct {
	ids   []uint32 // sorted; used while words is nil
	words []uint64 // bit u%64 of word u/64 set: URL id u is in the set
	n     int
}

// bitmapMin is the fewest ids a bitmap holds: below it a slice is small
// anyway, and a small graph's keys do not switch back and forth.
const bitmapMin = 64

func (p *posting) len() int {
	if p == nil {
		return 0
	}
	return p.n
}

// add puts u in the set; the caller knows it is not there yet.
func (p *posting) add(u uint32) {
	p.n++
	if p.words != nil {
		w := int(u / 64)
		if w >= len(p.words) {
			p.words = append(p.words, make([]uint64, w+1-len(p.words))...)
		}
		p.words[w] |= 1 << (u % 64)
		return
	}
	if k := len(p.ids); k == 0 || p.ids[k-1] < u {
		p.ids = append(p.ids, u)
	} else {
		i, _ := slices.BinarySearch(p.ids, u)
		p.ids = slices.Insert(p.ids, i, u)
	}
	// 4 bytes an id against a bit for every id up to the largest.
	if p.n >= bitmapMin && p.n*32 > int(p.ids[p.n-1])+1 {
		p.toBitmap()
	}
}

// remove takes u out of the set; the caller knows it is there.
func (p *posting) remove(u uint32) {
	p.n--
	if p.n == 0 {
		*p = posting{}
		return
	}
	if p.words != nil {
		p.words[u/64] &^= 1 << (u % 64)
		// Back to a slice when it would take under half the bitmap's
		// memory (the switch to a bitmap needs twice that, so a key near
		// the line does not switch on every edge).
		if p.n < len(p.words) || p.n < bitmapMin/2 {
			p.toSlice()
		}
		return
	}
	if i, ok := slices.BinarySearch(p.ids, u); ok {
		p.ids = slices.Delete(p.ids, i, i+1)
	}
}

func (p *posting) toBitmap() {
	words := make([]uint64, p.ids[len(p.ids)-1]/64+1)
	for _, u := range p.ids {
		words[u/64] |= 1 << (u % 64)
	}
	p.ids, p.words = nil, words
}

func (p *posting) toSlice() {
	ids := p.appendIDs(make([]uint32, 0, p.n))
	p.ids, p.words = ids, nil
}

// appendIDs appends the set's ids to dst, in increasing order.
func (p *posting) appendIDs(dst []uint32) []uint32 {
	if p.len() == 0 {
		return dst
	}
	if p.words == nil {
		return append(dst, p.ids...)
	}
	for w, word := range p.words {
		for word != 0 {
			dst = append(dst, uint32(w*64+bits.TrailingZeros64(word)))
			word &= word - 1
		}
	}
	return dst
}

// strings returns the URLs of the set's ids, in id order: one allocation,
// no map and no sort, which is what keeps a key every page shows cheap.
func (p *posting) strings(urls []string) []string {
	if p.len() == 0 {
		return nil
	}
	out := make([]string, p.n)
	if p.words == nil {
		for i, u := range p.ids {
			out[i] = urls[u]
		}
		return out
	}
	i := 0
	for w, word := range p.words {
		for word != 0 {
			out[i] = urls[w*64+bits.TrailingZeros64(word)]
			i++
			word &= word - 1
		}
	}
	return out
}
