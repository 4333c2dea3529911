//! The region: the memory that holds every object and free block.
//!
//! [`Region`] owns a base pointer and a length and is the only module that turns them into
//! slices. The memory is the caller's (a `'static` slice, or raw parts under the caller's
//! contract) or the region's own: [`Region::owned`] allocates it from the global allocator and
//! the region frees it when dropped, with the `Layout` it keeps.
//!
//! Everything else addresses the region by `u32` offsets through the checked accessors below,
//! so every index or size that was read from heap memory is bounds-checked before it is used: a
//! corrupted offset yields [`Error::Corrupted`], never an out-of-bounds access.
//!
//! # Invariants
//! * `base` is valid for reads and writes of `len` bytes for as long as the region lives, and
//!   nothing else accesses those bytes while a `&mut Region` exists (the constructors' contracts).
//! * `owned` is `Some(layout)` exactly when the region allocated its memory with `layout`
//!   (whose size is `len`; an owned region never extends), and then dropping the region
//!   deallocates `base` with that layout, once.
//! * `base` is aligned to [`REGION_ALIGN`], `len` is a multiple of it, and
//!   [`MIN_REGION_LEN`] <= `len` <= [`MAX_REGION_LEN`], so every offset fits in a `u32`.
//! * No native pointer is ever written into the region: its contents are plain data (offsets,
//!   sizes, scalars), which is what makes it safe to treat them as untrusted.
//!
//! Values are stored in native byte order, which is what JIT code reading the same memory uses.

use crate::error::{Error, Result};
use core::alloc::Layout;
use core::ptr::NonNull;

/// Alignment of the region's base and granularity of its length (and of every block in it).
pub const REGION_ALIGN: usize = 16;
/// The smallest region a heap accepts: the reserved null granule plus a few blocks.
pub const MIN_REGION_LEN: usize = 64;
/// The largest region a heap accepts: every offset, and every end of a block, fits in a `u32`.
pub const MAX_REGION_LEN: usize = (u32::MAX as usize) & !(REGION_ALIGN - 1);

// Offsets are `u32` and are widened to `usize` without checks, which needs a 32-bit usize at least.
const _: () = assert!(usize::BITS >= 32);

/// A 16-byte aligned byte array to place a heap in, as a `static` or a leaked box.
///
/// ```
/// static mut MEMORY: drc_heap::HeapMemory<{ 1 << 16 }> = drc_heap::HeapMemory::new();
/// // SAFETY: this is the only place that takes a reference to MEMORY.
/// let memory = unsafe { &mut *core::ptr::addr_of_mut!(MEMORY) };
/// let heap: drc_heap::Heap<()> = drc_heap::Heap::new(memory.bytes()).unwrap();
/// # drop(heap);
/// ```
#[repr(C, align(16))]
pub struct HeapMemory<const N: usize>([u8; N]);

impl<const N: usize> HeapMemory<N> {
    /// Zeroed memory.
    pub const fn new() -> Self {
        HeapMemory([0; N])
    }

    /// The bytes, for [`crate::HeapIn::new`]: `'static` ones for a [`crate::Heap`] when the
    /// memory is a `static`, or borrowed for as long as the memory is (on the stack, in a box).
    pub fn bytes(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

/// Shows the length, not the bytes.
impl<const N: usize> core::fmt::Debug for HeapMemory<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HeapMemory").field("len", &N).finish_non_exhaustive()
    }
}

impl<const N: usize> Default for HeapMemory<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// The caller's memory, addressed by `u32` offsets with checked accessors. Its `Debug` shows
/// the base address and the length, never the contents.
#[derive(Debug)]
pub(crate) struct Region {
    base: NonNull<u8>,
    len: u32,
    /// The layout `base` was allocated with when the region owns its memory.
    owned: Option<Layout>,
}

// SAFETY: a `Region` is the exclusive owner of its memory (the constructors' contract), so moving
// it to another thread moves that exclusive access with it; it has no thread-affine state.
unsafe impl Send for Region {}
// SAFETY: shared access only reads through `&self` methods; writes need `&mut self`.
unsafe impl Sync for Region {}

/// Checks a candidate region's address and length; returns the length as `u32`. A null base
/// and the length's size are checked first, so that the error names the first thing wrong.
pub(crate) fn check_region(address: usize, len: usize) -> Result<u32> {
    if address == 0 {
        return Err(Error::NullRegion);
    }
    if len < MIN_REGION_LEN {
        return Err(Error::RegionTooSmall { len, min: MIN_REGION_LEN });
    }
    if len > MAX_REGION_LEN {
        return Err(Error::RegionTooLarge { len, max: MAX_REGION_LEN });
    }
    if address % REGION_ALIGN != 0 {
        return Err(Error::RegionMisaligned { value: address, align: REGION_ALIGN });
    }
    if len % REGION_ALIGN != 0 {
        return Err(Error::RegionMisaligned { value: len, align: REGION_ALIGN });
    }
    Ok(len as u32)
}

impl Region {
    /// Takes a byte slice as the region. The region does not carry the borrow's lifetime: its
    /// holder does (a heap is a `HeapIn<'a, H>` over an `&'a mut [u8]`), and must not outlive it.
    pub(crate) fn from_slice(memory: &mut [u8]) -> Result<Region> {
        let len = check_region(memory.as_ptr() as usize, memory.len())?;
        Ok(Region { base: NonNull::from(memory).cast(), len, owned: None })
    }

    /// Allocates `len` zeroed bytes, aligned to [`REGION_ALIGN`], from the global allocator as
    /// a region that frees them when dropped.
    ///
    /// The length is checked first, with the errors and in the order of [`check_region`] (an
    /// allocation's base is never null and is aligned as asked, so only the length's checks can
    /// fail). A length the allocator cannot lay out or provide is
    /// [`Error::OutOfMemory`] for `len` bytes, never an abort.
    pub(crate) fn owned(len: usize) -> Result<Region> {
        let checked = check_region(REGION_ALIGN, len)?;
        let layout = Layout::from_size_align(len, REGION_ALIGN).map_err(|_| Error::OutOfMemory { requested: len })?;
        // SAFETY: the layout's size is at least MIN_REGION_LEN, so not zero.
        let base = unsafe { alloc::alloc::alloc_zeroed(layout) };
        let base = NonNull::new(base).ok_or(Error::OutOfMemory { requested: len })?;
        Ok(Region { base, len: checked, owned: Some(layout) })
    }

    /// Whether the region allocated its memory itself (see [`Region::owned`]).
    pub(crate) fn is_owned(&self) -> bool {
        self.owned.is_some()
    }

    /// Takes `len` bytes at `base` as the region.
    ///
    /// # Safety
    /// `base` must be valid for reads and writes of `len` bytes for the life of the region, and
    /// nothing else may access that memory while the region exists. A null, misaligned or
    /// wrongly sized region is refused before any of it is used.
    pub(crate) unsafe fn from_raw_parts(base: *mut u8, len: usize) -> Result<Region> {
        let len = check_region(base as usize, len)?;
        let base = NonNull::new(base).ok_or(Error::NullRegion)?;
        Ok(Region { base, len, owned: None })
    }

    /// Grows the region by `additional` bytes that follow it in memory. An owned region is
    /// refused with [`Error::OwnedRegionNotExtensible`] before anything else is checked: the
    /// bytes after an allocation are not its to take, and it must be freed with the layout it
    /// was allocated with.
    ///
    /// # Safety
    /// Unless the region is owned (then the call is refused and touches nothing), the
    /// `additional` bytes right after the region must satisfy the same contract as the region
    /// itself (see [`Region::from_raw_parts`]).
    pub(crate) unsafe fn extend(&mut self, additional: usize) -> Result<()> {
        if self.is_owned() {
            return Err(Error::OwnedRegionNotExtensible);
        }
        // The size first: `usize::MAX` is too large before it is misaligned.
        let new_len = (self.len as usize).saturating_add(additional);
        if new_len > MAX_REGION_LEN {
            return Err(Error::RegionTooLarge { len: new_len, max: MAX_REGION_LEN });
        }
        if additional % REGION_ALIGN != 0 {
            return Err(Error::RegionMisaligned { value: additional, align: REGION_ALIGN });
        }
        self.len = new_len as u32;
        Ok(())
    }

    /// The region's length in bytes.
    #[inline]
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// The region's base address, for JIT code that computes object addresses.
    #[inline]
    pub(crate) fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// The `len` bytes at `start`, if they lie inside the region.
    ///
    /// Only those bytes are borrowed, never the whole region: a whole-region slice per access
    /// costs O(region) under Miri's borrow tracking. The end is computed with a checked add,
    /// so an offset near `u32::MAX` is out of bounds rather than an overflow on 32-bit targets.
    #[inline]
    fn range(&self, start: usize, len: usize) -> Option<&[u8]> {
        if start.checked_add(len)? > self.len as usize {
            return None;
        }
        // SAFETY: `start + len` is within the region (checked), whose `len` bytes at `base` are
        // valid and exclusively ours (struct invariant); `&self` rules out a live `&mut` to
        // them from `range_mut`.
        Some(unsafe { core::slice::from_raw_parts(self.base.as_ptr().add(start), len) })
    }

    /// The `len` bytes at `start`, mutably, if they lie inside the region.
    #[inline]
    fn range_mut(&mut self, start: usize, len: usize) -> Option<&mut [u8]> {
        if start.checked_add(len)? > self.len as usize {
            return None;
        }
        // SAFETY: as in `range`, and `&mut self` makes this the only live view of the bytes.
        Some(unsafe { core::slice::from_raw_parts_mut(self.base.as_ptr().add(start), len) })
    }

    /// `len` bytes at `offset`, or a corruption error naming `what` when out of bounds.
    #[inline]
    pub(crate) fn slice(&self, offset: u32, len: u32, what: &'static str) -> Result<&[u8]> {
        self.range(offset as usize, len as usize).ok_or(Error::corrupted(offset, what))
    }

    /// Mutable `len` bytes at `offset`, or a corruption error naming `what`.
    #[inline]
    pub(crate) fn slice_mut(&mut self, offset: u32, len: u32, what: &'static str) -> Result<&mut [u8]> {
        self.range_mut(offset as usize, len as usize).ok_or(Error::corrupted(offset, what))
    }

    /// Reads `N` bytes at `offset`.
    #[inline]
    pub(crate) fn read<const N: usize>(&self, offset: u32) -> Result<[u8; N]> {
        match self.range(offset as usize, N) {
            Some(bytes) => Ok(bytes.try_into().unwrap_or([0; N])),
            None => Err(Error::corrupted(offset, "read out of region bounds")),
        }
    }

    /// Writes `N` bytes at `offset`.
    #[inline]
    pub(crate) fn write<const N: usize>(&mut self, offset: u32, value: [u8; N]) -> Result<()> {
        match self.range_mut(offset as usize, N) {
            Some(bytes) => {
                bytes.copy_from_slice(&value);
                Ok(())
            }
            None => Err(Error::corrupted(offset, "write out of region bounds")),
        }
    }

    #[cfg(test)]
    pub(crate) fn write_u8(&mut self, offset: u32, value: u8) -> Result<()> {
        self.write(offset, [value])
    }

    #[inline]
    pub(crate) fn read_u32(&self, offset: u32) -> Result<u32> {
        Ok(u32::from_ne_bytes(self.read(offset)?))
    }

    #[inline]
    pub(crate) fn write_u32(&mut self, offset: u32, value: u32) -> Result<()> {
        self.write(offset, value.to_ne_bytes())
    }

    /// Fills `len` bytes at `offset` with `byte`.
    pub(crate) fn fill(&mut self, offset: u32, len: u32, byte: u8) -> Result<()> {
        self.slice_mut(offset, len, "fill out of region bounds")?.fill(byte);
        Ok(())
    }

    /// Copies `len` bytes from `source` to `destination`; the ranges may overlap.
    pub(crate) fn copy_within(&mut self, source: u32, destination: u32, len: u32) -> Result<()> {
        let (s, d, n) = (source as usize, destination as usize, len as usize);
        // Borrow just the span both ranges lie in.
        let low = s.min(d);
        let span = s.max(d).checked_add(n).map(|end| end - low);
        match span.and_then(|span| self.range_mut(low, span)) {
            Some(bytes) => {
                bytes.copy_within(s - low..s - low + n, d - low);
                Ok(())
            }
            None => Err(Error::corrupted(source, "copy out of region bounds")),
        }
    }
}

/// Frees an owned region's memory; a borrowed region's memory is the caller's and is left alone.
impl Drop for Region {
    fn drop(&mut self) {
        if let Some(layout) = self.owned {
            // SAFETY: `base` was allocated with `layout` by `Region::owned` (struct invariant),
            // and this is the only place that frees it, once, as the region goes away.
            unsafe { alloc::alloc::dealloc(self.base.as_ptr(), layout) };
        }
    }
}

/// The unit tests' regions come from the helper the integration tests use too.
#[cfg(test)]
pub(crate) use crate::test_support::test_region;

#[cfg(test)]
mod tests {
    use super::*;

    /// A leaked, 16-aligned buffer of `len` bytes.
    fn buffer(len: usize) -> &'static mut [u8] {
        test_region(len)
    }

    #[test]
    fn region_rejects_bad_sizes_and_alignment() {
        assert_eq!(Region::from_slice(&mut buffer(64)[..32]).err(), Some(Error::RegionTooSmall { len: 32, min: 64 }));
        assert!(matches!(Region::from_slice(&mut buffer(128)[1..97]), Err(Error::RegionMisaligned { align: 16, .. })));
        assert!(matches!(Region::from_slice(&mut buffer(128)[..100]), Err(Error::RegionMisaligned { value: 100, .. })));
    }

    #[test]
    fn region_accessors_are_bounds_checked() {
        let mut region = Region::from_slice(buffer(64)).unwrap();
        region.write_u32(60, 0xdead_beef).unwrap();
        assert_eq!(region.read_u32(60).unwrap(), 0xdead_beef);
        assert!(region.read_u32(61).unwrap_err().is_corruption());
        assert!(region.write_u32(u32::MAX, 1).unwrap_err().is_corruption());
        assert!(region.slice(32, 40, "x").is_err());
        assert!(region.copy_within(0, 40, 32).is_err());
        region.copy_within(56, 0, 8).unwrap();
        assert_eq!(region.read_u32(4).unwrap(), 0xdead_beef);
    }

    #[test]
    fn owned_region_is_zeroed_aligned_and_refuses_extend() {
        let mut region = Region::owned(256).unwrap();
        assert!(region.is_owned());
        assert_eq!(region.base() as usize % REGION_ALIGN, 0);
        assert!(region.slice(0, 256, "x").unwrap().iter().all(|&b| b == 0));
        region.write_u32(252, 9).unwrap();
        // SAFETY: an owned region refuses before touching anything (its contract's exception).
        assert_eq!(unsafe { region.extend(64) }, Err(Error::OwnedRegionNotExtensible));
        assert_eq!(region.len(), 256);
        assert_eq!(Region::owned(100).err(), Some(Error::RegionMisaligned { value: 100, align: 16 }));
    }

    #[test]
    fn region_extend_checks_alignment_and_limit() {
        let memory = buffer(128).as_mut_ptr();
        // SAFETY: the leaked buffer is 128 bytes, 'static and used by nothing else; the region
        // takes its first 64 bytes and then, by extension, the next 64.
        let mut region = unsafe { Region::from_raw_parts(memory, 64) }.unwrap();
        // SAFETY: as above.
        unsafe {
            assert!(region.extend(8).is_err());
            region.extend(64).unwrap();
            assert!(matches!(region.extend(usize::MAX - 15), Err(Error::RegionTooLarge { .. })));
        }
        assert_eq!(region.len(), 128);
        region.write_u32(124, 7).unwrap();
    }
}
