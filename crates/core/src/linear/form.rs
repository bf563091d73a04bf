//! The binary form of a linear model (`LinearModel::to_bytes`) and how its
//! weights are quantized. Shared with the build script, which quantizes the
//! shipped model once, when the binary is built.

/// What every model file starts with.
pub const MAGIC: &[u8; 8] = b"CXLIN001";
/// Hash buckets (a power of two).
pub const BUCKETS: usize = 1 << 16;

/// A model file cut into its parts, nothing decoded but the header.
pub struct Split<'a> {
    /// Class (expert) names, in the model's order.
    pub classes: Vec<String>,
    /// The biases, then the keyword weights: `k + k * k` little-endian `f32`s.
    pub dense: &'a [u8],
    /// The bucket weights: `BUCKETS * k` little-endian `f32`s.
    pub weights: &'a [u8],
}

/// The parts of `b`; `None` if it is not a well-formed model file.
pub fn split(b: &[u8]) -> Option<Split<'_>> {
    let rest = b.strip_prefix(MAGIC)?;
    let u32_at =
        |s: &[u8]| -> Option<u32> { Some(u32::from_le_bytes(s.get(..4)?.try_into().ok()?)) };
    let k = u32_at(rest)? as usize;
    let buckets = u32_at(rest.get(4..)?)? as usize;
    if buckets != BUCKETS || k == 0 || k > 64 {
        return None;
    }
    let mut at = 8;
    let mut classes = Vec::with_capacity(k);
    for _ in 0..k {
        let n = usize::from(*rest.get(at)?);
        classes.push(String::from_utf8(rest.get(at + 1..at + 1 + n)?.to_vec()).ok()?);
        at += 1 + n;
    }
    let dense = rest.get(at..at + (k + k * k) * 4)?;
    let weights = rest.get(at + dense.len()..)?;
    (weights.len() == BUCKETS * k * 4).then_some(Split {
        classes,
        dense,
        weights,
    })
}

/// Little-endian `f32`s.
pub fn floats(b: &[u8]) -> impl Iterator<Item = f32> + '_ {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

/// The scale that quantizes `weights`: the largest magnitude over 32767.
pub fn scale_of(weights: impl Iterator<Item = f32>) -> f32 {
    let max = weights.fold(0.0f32, |m, w| m.max(w.abs()));
    if max > 0.0 {
        max / 32767.0
    } else {
        1.0
    }
}

/// A weight as a 16-bit integer at `scale`: `weight ~ q * scale`.
#[inline]
pub fn quantize(w: f32, scale: f32) -> i16 {
    (w / scale).round().clamp(-32767.0, 32767.0) as i16
}
