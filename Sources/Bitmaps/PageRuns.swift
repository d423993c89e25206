extension PageBitmap {
    /// The maximal runs of pages whose bit equals `value`, in increasing order.
    ///
    /// Each element is a non-empty range of pages that all equal `value`, and the
    /// pages just before and after it (where they exist) do not, so consecutive
    /// runs never touch. Used to zero-map whole free runs with one call each.
    ///
    /// - Complexity: O(1) to create; iterating all runs is O(`pageCount` / 64 +
    ///   number of runs), since both run ends are found by scanning whole words.
    public func runs(of value: Bool) -> Runs {
        Runs(bitmap: self, value: value, pages: 0..<pageCount)
    }

    /// The maximal runs of pages within `pages` whose bit equals `value`, in
    /// increasing order, each clipped to `pages`.
    ///
    /// - Precondition: `pages` lies within `0..<pageCount`.
    /// - Complexity: O(1) to create; iterating all runs is O(`pages.count` / 64 +
    ///   number of runs).
    public func runs(of value: Bool, in pages: Range<Int>) -> Runs {
        checkRange(pages)
        return Runs(bitmap: self, value: value, pages: pages)
    }

    /// The maximal runs of equal pages of a bitmap; see `PageBitmap.runs(of:)`.
    public struct Runs: Sequence, Sendable {
        /// The bitmap whose runs are listed (shares its storage, no copy).
        public let bitmap: PageBitmap
        /// The bit value of the pages in each run.
        public let value: Bool
        /// The pages the runs are restricted to.
        public let pages: Range<Int>

        init(bitmap: PageBitmap, value: Bool, pages: Range<Int>) {
            self.bitmap = bitmap
            self.value = value
            self.pages = pages
        }

        /// - Complexity: O(1).
        public func makeIterator() -> Iterator {
            Iterator(bitmap: bitmap, value: value, pages: pages)
        }

        /// Yields the runs one at a time; each `next()` costs O(run length / 64).
        public struct Iterator: IteratorProtocol, Sendable {
            private let bitmap: PageBitmap
            private let value: Bool
            private let end: Int
            /// Where the search for the next run starts: always the end of the
            /// previous run, whose page differs from `value` (or is `end`).
            private var position: Int

            init(bitmap: PageBitmap, value: Bool, pages: Range<Int>) {
                self.bitmap = bitmap
                self.value = value
                self.end = pages.upperBound
                self.position = pages.lowerBound
            }

            /// The next run, or `nil` after the last one.
            ///
            /// - Complexity: O(distance to the end of the next run / 64).
            public mutating func next() -> Range<Int>? {
                guard let start = bitmap.firstPage(equalTo: value, in: position..<end) else {
                    position = end
                    return nil
                }
                let runEnd = bitmap.firstPage(equalTo: !value, in: start..<end) ?? end
                position = runEnd
                return start..<runEnd
            }
        }
    }
}
