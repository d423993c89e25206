#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A fixed-size set of pages that many threads update at once without locks.
///
/// The destination's fault loop and its page receivers share one of these to
/// record which pages are placed: `testAndSet(_:)` tells exactly one of several
/// racing threads that it was first. Bits are only ever set, never cleared, so
/// every operation is a single atomic OR or load per word.
///
/// Memory ordering: updates are acquiring-and-releasing and `contains(_:)` and
/// `snapshot()` are acquiring, so a thread that sees a page's bit also sees
/// whatever the setting thread wrote before setting it (such as the page's
/// contents). `count` is a relaxed estimate.
public final class AtomicPageBitmap: Sendable {
    /// The number of pages the bitmap covers; valid page indices are `0..<pageCount`.
    public let pageCount: Int

    private let words: AtomicWords

    /// Creates a bitmap of `pageCount` pages, none of them set.
    ///
    /// - Complexity: O(`pageCount` / 64).
    public init(pageCount: Int) {
        precondition(pageCount >= 0, "AtomicPageBitmap: negative page count \(pageCount)")
        self.pageCount = pageCount
        self.words = AtomicWords(count: BitmapWords.count(forPageCount: pageCount))
    }

    /// Sets `page`, returning whether it was **already** set.
    ///
    /// Of several threads racing to set the same page, exactly one gets `false`.
    ///
    /// - Precondition: `0 <= page < pageCount`.
    /// - Complexity: O(1); one atomic OR.
    public func testAndSet(_ page: Int) -> Bool {
        checkIndex(page)
        let (word, mask) = BitmapWords.location(of: page)
        let old = words.bitwiseOr(mask, at: word)
        return old & mask != 0
    }

    /// Sets every page in `pages`: one atomic OR per word touched.
    ///
    /// - Precondition: `pages` lies within `0..<pageCount`.
    /// - Complexity: O(`pages.count` / 64).
    public func insert(contentsOf pages: Range<Int>) {
        precondition(
            pages.lowerBound >= 0 && pages.upperBound <= pageCount,
            "AtomicPageBitmap: pages \(pages) out of 0..<\(pageCount)")
        BitmapWords.forEachWord(in: pages) { word, mask in
            _ = words.bitwiseOr(mask, at: word)
        }
    }

    /// Sets every page that is set in `other`.
    ///
    /// - Precondition: `other.pageCount == pageCount`.
    /// - Complexity: O(`pageCount` / 64); words of `other` that are zero cost no
    ///   atomic operation.
    public func formUnion(_ other: PageBitmap) {
        precondition(
            other.pageCount == pageCount,
            "AtomicPageBitmap: page counts differ (\(pageCount) and \(other.pageCount))")
        for (index, word) in other.words.enumerated() where word != 0 {
            _ = words.bitwiseOr(word, at: index)
        }
    }

    /// Whether `page` is set.
    ///
    /// - Precondition: `0 <= page < pageCount`.
    /// - Complexity: O(1); one atomic load.
    public func contains(_ page: Int) -> Bool {
        checkIndex(page)
        let (word, mask) = BitmapWords.location(of: page)
        return words.load(at: word) & mask != 0
    }

    /// The number of set pages, from relaxed loads: exact when no thread is
    /// setting pages, otherwise some value between the counts before and after.
    ///
    /// - Complexity: O(`pageCount` / 64).
    public var count: Int {
        (0..<words.count).reduce(0) { total, index in
            total + words.relaxedLoad(at: index).nonzeroBitCount
        }
    }

    /// A copy of the bitmap as a `PageBitmap`.
    ///
    /// Each word is read atomically; pages set while the copy is made may or may
    /// not appear in it, but every page set before the call does.
    ///
    /// - Complexity: O(`pageCount` / 64).
    public func snapshot() -> PageBitmap {
        let copied = (0..<words.count).map { words.load(at: $0) }
        // The padding stays zero because every update is range-checked first.
        return PageBitmap(validatedWords: copied, pageCount: pageCount)
    }

    private func checkIndex(_ page: Int) {
        precondition(
            page >= 0 && page < pageCount, "AtomicPageBitmap: page \(page) out of 0..<\(pageCount)")
    }
}

/// The atomic words of an `AtomicPageBitmap`: the only code in the module that
/// owns raw memory.
///
/// `Atomic` is noncopyable and so cannot be an `Array` element; the words live
/// in one allocation that is initialized here and freed in `deinit`. The pointer
/// itself never changes and every access to the memory goes through `Atomic`,
/// which is why sharing it between threads is sound.
private struct AtomicWords: ~Copyable, @unchecked Sendable {
    private let base: UnsafeMutablePointer<Atomic<UInt64>>
    let count: Int

    /// O(1) time for the caller: `calloc(3)` hands large blocks back as fresh
    /// zero pages that the kernel maps on first use. Writing `Atomic(0)` into
    /// every word instead cost a destination's switchover ~0.5 ms at 8 GiB
    /// (four bitmaps of 256 KiB touched before the region could run).
    init(count: Int) {
        self.count = count
        // An Atomic<UInt64> is its 8 bytes; all-zero bytes are Atomic(0), and
        // it has nothing to destroy (so `deinit` frees without deinitializing).
        guard let raw = calloc(max(count, 1), MemoryLayout<Atomic<UInt64>>.stride) else {
            fatalError("AtomicPageBitmap: calloc of \(count) words failed")
        }
        base = raw.bindMemory(to: Atomic<UInt64>.self, capacity: max(count, 1))
    }

    deinit {
        free(base)
    }

    // The orderings are fixed here because `Atomic` requires them to be
    // compile-time constants at each call.

    /// The word at `index`, with acquiring ordering.
    func load(at index: Int) -> UInt64 {
        precondition(index >= 0 && index < count)
        return base[index].load(ordering: .acquiring)
    }

    /// The word at `index`, with relaxed ordering (for statistics only).
    func relaxedLoad(at index: Int) -> UInt64 {
        precondition(index >= 0 && index < count)
        return base[index].load(ordering: .relaxed)
    }

    /// ORs `mask` into the word at `index` with acquiring-and-releasing ordering,
    /// returning the word's previous value.
    func bitwiseOr(_ mask: UInt64, at index: Int) -> UInt64 {
        precondition(index >= 0 && index < count)
        return base[index].bitwiseOr(mask, ordering: .acquiringAndReleasing).oldValue
    }
}
