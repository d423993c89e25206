// Word arithmetic shared by the dense bitmap, the atomic bitmap and the codec:
// page `p` lives in bit `p % 64` of word `p / 64`.

enum BitmapWords {
    static let bitsPerWord = UInt64.bitWidth

    /// The number of words needed to hold `pageCount` bits.
    static func count(forPageCount pageCount: Int) -> Int {
        assert(pageCount >= 0)
        // Written so that it cannot overflow for pageCount near Int.max.
        return pageCount / bitsPerWord + (pageCount % bitsPerWord == 0 ? 0 : 1)
    }

    /// The word index of `page` and the single-bit mask selecting it.
    static func location(of page: Int) -> (word: Int, mask: UInt64) {
        assert(page >= 0)
        return (page / bitsPerWord, 1 &<< UInt64(page % bitsPerWord))
    }

    /// The bits of the last word that hold pages: everything else is padding and
    /// must stay zero, so that equal sets have equal words.
    static func lastWordMask(forPageCount pageCount: Int) -> UInt64 {
        let usedBits = pageCount % bitsPerWord
        return usedBits == 0 ? ~0 : (1 &<< UInt64(usedBits)) &- 1
    }

    /// Calls `body(wordIndex, mask)` once for each word that `pages` touches, in
    /// increasing order, with `mask` selecting the bits of that word inside
    /// `pages`. Whole words in the middle of the range get an all-ones mask, so a
    /// long range costs one call per 64 pages.
    static func forEachWord(
        in pages: Range<Int>, _ body: (_ wordIndex: Int, _ mask: UInt64) -> Void
    ) {
        assert(pages.lowerBound >= 0)
        guard !pages.isEmpty else { return }
        let firstWord = pages.lowerBound / bitsPerWord
        let lastWord = (pages.upperBound - 1) / bitsPerWord
        let headMask: UInt64 = ~0 &<< UInt64(pages.lowerBound % bitsPerWord)
        let tailMask: UInt64 = ~0 &>> UInt64(bitsPerWord - 1 - (pages.upperBound - 1) % bitsPerWord)
        if firstWord == lastWord {
            body(firstWord, headMask & tailMask)
            return
        }
        body(firstWord, headMask)
        for word in (firstWord + 1)..<lastWord {
            body(word, ~0)
        }
        body(lastWord, tailMask)
    }
}
