/// A fixed-size set of page indices `0..<pageCount`, stored one bit per page.
///
/// `PageBitmap` is a value type with copy-on-write storage: copies are cheap
/// until one of them is mutated. Page `p` is bit `p % 64` of `words[p / 64]`.
///
/// Invariant: the bits of the last word beyond `pageCount` (the padding) are
/// always zero, so two bitmaps hold the same pages exactly when their words are
/// equal, and `count` can add up whole words. Every mutation keeps it, and debug
/// builds check it.
public struct PageBitmap: Sendable, Hashable {
    /// The number of pages the bitmap covers; valid page indices are `0..<pageCount`.
    public let pageCount: Int

    /// The storage words, for codecs: page `p` is bit `p % 64` of `words[p / 64]`,
    /// and the padding bits of the last word are zero.
    public private(set) var words: [UInt64]

    /// Creates a bitmap of `pageCount` pages, none of them set.
    ///
    /// - Complexity: O(`pageCount` / 64).
    public init(pageCount: Int) {
        self.init(repeating: false, pageCount: pageCount)
    }

    /// Creates a bitmap of `pageCount` pages, all set to `value`.
    ///
    /// - Complexity: O(`pageCount` / 64).
    public init(repeating value: Bool, pageCount: Int) {
        precondition(pageCount >= 0, "PageBitmap: negative page count \(pageCount)")
        self.pageCount = pageCount
        self.words = Array(
            repeating: value ? ~0 : 0, count: BitmapWords.count(forPageCount: pageCount))
        if value { clearPadding() }
        checkInvariants()
    }

    /// Creates a bitmap from storage words, or returns `nil` unless `words` has
    /// exactly the number of words `pageCount` needs and its padding bits are zero.
    ///
    /// - Complexity: O(1), plus the copy of `words` if the caller keeps using it.
    public init?(words: [UInt64], pageCount: Int) {
        guard pageCount >= 0,
              words.count == BitmapWords.count(forPageCount: pageCount),
              words.last.map({ $0 & ~BitmapWords.lastWordMask(forPageCount: pageCount) == 0 })
                ?? true
        else { return nil }
        self.init(validatedWords: words, pageCount: pageCount)
    }

    /// Creates a bitmap from words the caller has already validated.
    init(validatedWords words: [UInt64], pageCount: Int) {
        self.pageCount = pageCount
        self.words = words
        checkInvariants()
    }

    /// Whether the padding invariant holds; checked after every mutation in debug builds.
    private func checkInvariants() {
        assert(words.count == BitmapWords.count(forPageCount: pageCount), "PageBitmap: word count")
        assert(
            words.last.map { $0 & ~BitmapWords.lastWordMask(forPageCount: pageCount) == 0 } ?? true,
            "PageBitmap: nonzero padding bits")
    }

    /// Clears the padding bits after an operation that sets whole words.
    private mutating func clearPadding() {
        guard !words.isEmpty else { return }
        words[words.count - 1] &= BitmapWords.lastWordMask(forPageCount: pageCount)
    }

    private func checkIndex(_ page: Int) {
        precondition(page >= 0 && page < pageCount, "PageBitmap: page \(page) out of 0..<\(pageCount)")
    }

    func checkRange(_ pages: Range<Int>) {
        precondition(
            pages.lowerBound >= 0 && pages.upperBound <= pageCount,
            "PageBitmap: pages \(pages) out of 0..<\(pageCount)")
    }

    private func checkSearchStart(_ start: Int) {
        precondition(
            start >= 0 && start <= pageCount, "PageBitmap: search start \(start) out of 0...\(pageCount)")
    }

    private func checkSameSize(_ other: PageBitmap) {
        precondition(
            pageCount == other.pageCount,
            "PageBitmap: page counts differ (\(pageCount) and \(other.pageCount))")
    }
}

// MARK: - Single pages

extension PageBitmap {
    /// Whether `page` is set; setting it to `true` inserts it, `false` removes it.
    ///
    /// - Precondition: `0 <= page < pageCount`.
    /// - Complexity: O(1).
    public subscript(page: Int) -> Bool {
        get {
            contains(page)
        }
        set {
            if newValue { insert(page) } else { remove(page) }
        }
    }

    /// Whether `page` is set.
    ///
    /// - Precondition: `0 <= page < pageCount`.
    /// - Complexity: O(1).
    public func contains(_ page: Int) -> Bool {
        checkIndex(page)
        let (word, mask) = BitmapWords.location(of: page)
        return words[word] & mask != 0
    }

    /// Sets `page`, returning whether it was clear before.
    ///
    /// - Precondition: `0 <= page < pageCount`.
    /// - Complexity: O(1).
    @discardableResult
    public mutating func insert(_ page: Int) -> Bool {
        checkIndex(page)
        let (word, mask) = BitmapWords.location(of: page)
        let wasClear = words[word] & mask == 0
        words[word] |= mask
        return wasClear
    }

    /// Clears `page`, returning whether it was set before.
    ///
    /// - Precondition: `0 <= page < pageCount`.
    /// - Complexity: O(1).
    @discardableResult
    public mutating func remove(_ page: Int) -> Bool {
        checkIndex(page)
        let (word, mask) = BitmapWords.location(of: page)
        let wasSet = words[word] & mask != 0
        words[word] &= ~mask
        return wasSet
    }
}

// MARK: - Ranges of pages

extension PageBitmap {
    /// Sets every page in `pages`, a word at a time.
    ///
    /// - Precondition: `pages` lies within `0..<pageCount`.
    /// - Complexity: O(`pages.count` / 64).
    public mutating func insert(contentsOf pages: Range<Int>) {
        checkRange(pages)
        BitmapWords.forEachWord(in: pages) { word, mask in words[word] |= mask }
        checkInvariants()
    }

    /// Clears every page in `pages`, a word at a time.
    ///
    /// - Precondition: `pages` lies within `0..<pageCount`.
    /// - Complexity: O(`pages.count` / 64).
    public mutating func remove(contentsOf pages: Range<Int>) {
        checkRange(pages)
        BitmapWords.forEachWord(in: pages) { word, mask in words[word] &= ~mask }
    }

    /// The number of set pages.
    ///
    /// - Complexity: O(`pageCount` / 64).
    public var count: Int {
        words.reduce(0) { $0 + $1.nonzeroBitCount }
    }

    /// Whether no page is set.
    ///
    /// - Complexity: O(`pageCount` / 64).
    public var isEmpty: Bool {
        words.allSatisfy { $0 == 0 }
    }

    /// Whether every page is set (vacuously true when `pageCount` is zero).
    ///
    /// - Complexity: O(`pageCount` / 64).
    public var isFull: Bool {
        guard let last = words.last else { return true }
        return words.dropLast().allSatisfy { $0 == ~0 }
            && last == BitmapWords.lastWordMask(forPageCount: pageCount)
    }
}

// MARK: - Searching

extension PageBitmap {
    /// The first set page at or after `start`, or `nil` if there is none.
    ///
    /// - Precondition: `0 <= start <= pageCount`.
    /// - Complexity: O(distance to the result / 64).
    public func firstSet(from start: Int) -> Int? {
        checkSearchStart(start)
        return firstPage(equalTo: true, in: start..<pageCount)
    }

    /// The first clear page at or after `start`, or `nil` if there is none.
    ///
    /// - Precondition: `0 <= start <= pageCount`.
    /// - Complexity: O(distance to the result / 64).
    public func firstClear(from start: Int) -> Int? {
        checkSearchStart(start)
        return firstPage(equalTo: false, in: start..<pageCount)
    }

    /// The first page in `pages` whose bit equals `value`.
    ///
    /// Scans a word at a time: a clear-page search inverts each word so both
    /// searches become "lowest one bit", and the result is bounded by `pages` so
    /// inverted padding bits are never reported.
    func firstPage(equalTo value: Bool, in pages: Range<Int>) -> Int? {
        guard !pages.isEmpty else { return nil }
        let flip: UInt64 = value ? 0 : ~0
        let lastWord = (pages.upperBound - 1) / BitmapWords.bitsPerWord
        var wordIndex = pages.lowerBound / BitmapWords.bitsPerWord
        var word = (words[wordIndex] ^ flip) & (~0 &<< UInt64(pages.lowerBound % BitmapWords.bitsPerWord))
        while word == 0 {
            wordIndex += 1
            guard wordIndex <= lastWord else { return nil }
            word = words[wordIndex] ^ flip
        }
        let page = wordIndex * BitmapWords.bitsPerWord + word.trailingZeroBitCount
        return page < pages.upperBound ? page : nil
    }
}

// MARK: - Set algebra

extension PageBitmap {
    /// Sets every page that is set in `other`.
    ///
    /// - Precondition: `other.pageCount == pageCount`.
    /// - Complexity: O(`pageCount` / 64).
    public mutating func formUnion(_ other: PageBitmap) {
        checkSameSize(other)
        for index in words.indices { words[index] |= other.words[index] }
    }

    /// Clears every page that is clear in `other`.
    ///
    /// - Precondition: `other.pageCount == pageCount`.
    /// - Complexity: O(`pageCount` / 64).
    public mutating func formIntersection(_ other: PageBitmap) {
        checkSameSize(other)
        for index in words.indices { words[index] &= other.words[index] }
    }

    /// Clears every page that is set in `other`.
    ///
    /// - Precondition: `other.pageCount == pageCount`.
    /// - Complexity: O(`pageCount` / 64).
    public mutating func subtract(_ other: PageBitmap) {
        checkSameSize(other)
        for index in words.indices { words[index] &= ~other.words[index] }
    }

    /// Flips every page: set pages become clear and clear pages become set.
    ///
    /// - Complexity: O(`pageCount` / 64).
    public mutating func formComplement() {
        for index in words.indices { words[index] = ~words[index] }
        clearPadding()
        checkInvariants()
    }

    /// The pages set in either bitmap.
    ///
    /// - Precondition: `other.pageCount == pageCount`.
    /// - Complexity: O(`pageCount` / 64).
    public func union(_ other: PageBitmap) -> PageBitmap {
        var result = self
        result.formUnion(other)
        return result
    }

    /// The pages set in both bitmaps.
    ///
    /// - Precondition: `other.pageCount == pageCount`.
    /// - Complexity: O(`pageCount` / 64).
    public func intersection(_ other: PageBitmap) -> PageBitmap {
        var result = self
        result.formIntersection(other)
        return result
    }

    /// The pages set in `self` but not in `other`.
    ///
    /// - Precondition: `other.pageCount == pageCount`.
    /// - Complexity: O(`pageCount` / 64).
    public func subtracting(_ other: PageBitmap) -> PageBitmap {
        var result = self
        result.subtract(other)
        return result
    }

    /// The pages clear in `self`.
    ///
    /// - Complexity: O(`pageCount` / 64).
    public func complement() -> PageBitmap {
        var result = self
        result.formComplement()
        return result
    }
}

// MARK: - Description

extension PageBitmap: CustomStringConvertible {
    /// The page count and the first runs of set pages, e.g.
    /// `PageBitmap(100 pages, 13 set: 0..<3, 5, 10..<20)`.
    ///
    /// - Complexity: O(`pageCount` / 64).
    public var description: String {
        // Bounded so that a failed test on a million-page bitmap prints one line.
        let shownRuns = 16
        var parts: [String] = []
        for run in runs(of: true) {
            guard parts.count < shownRuns else {
                parts.append("…")
                break
            }
            parts.append(run.count == 1 ? "\(run.lowerBound)" : "\(run.lowerBound)..<\(run.upperBound)")
        }
        let list = parts.isEmpty ? "" : ": " + parts.joined(separator: ", ")
        return "PageBitmap(\(pageCount) pages, \(count) set\(list))"
    }
}
