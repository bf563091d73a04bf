//! Where a linear model's bucket weights live, and their 16-bit form.

/// Where a model's bucket weights live.
#[derive(Debug, Clone)]
pub(super) enum Weights {
    /// Trained, or read from a file.
    Owned(Vec<f32>),
    /// The model shipped in the binary, read in place: its little-endian
    /// `f32`s, and the same quantized to little-endian `i16`s at `scale`
    /// when the binary was built. Routing a text touches only the rows of
    /// its buckets, so a process does not hold the 1.3 MB of weights, nor a
    /// decoded or a quantized copy of them.
    Shipped {
        bytes: &'static [u8],
        q: &'static [u8],
        scale: f32,
    },
}

impl Weights {
    pub(super) fn len(&self) -> usize {
        match self {
            Weights::Owned(w) => w.len(),
            Weights::Shipped { bytes, .. } => bytes.len() / 4,
        }
    }

    pub(super) fn get(&self, i: usize) -> f32 {
        match self {
            Weights::Owned(w) => w[i],
            Weights::Shipped { bytes, .. } => {
                let b = &bytes[i * 4..i * 4 + 4];
                f32::from_le_bytes([b[0], b[1], b[2], b[3]])
            }
        }
    }
}

impl PartialEq for Weights {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && (0..self.len()).all(|i| self.get(i).to_bits() == other.get(i).to_bits())
    }
}

/// A model's weights as 16-bit integers: `weight ~ q * scale`.
#[derive(Debug, Clone, Copy)]
pub struct Quantized<'a> {
    pub(super) rows: Rows<'a>,
    pub(super) k: usize,
    /// The factor that turns a quantized weight back into a weight.
    pub(super) scale: f32,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Rows<'a> {
    /// Little-endian `i16`s (the shipped model).
    Bytes(&'a [u8]),
    Ints(&'a [i16]),
}

impl Quantized<'_> {
    /// The quantized weights of bucket `b`, one per class, into `out`.
    pub fn row(&self, b: u32, out: &mut [i16]) {
        let at = b as usize * self.k;
        match self.rows {
            Rows::Bytes(q) => {
                let row = &q[at * 2..(at + self.k) * 2];
                for (o, c) in out.iter_mut().zip(row.chunks_exact(2)) {
                    *o = i16::from_le_bytes([c[0], c[1]]);
                }
            }
            Rows::Ints(q) => out[..self.k].copy_from_slice(&q[at..at + self.k]),
        }
    }

    /// Adds the quantized weights of bucket `b` to `acc`, one per class:
    /// `row`'s reading, written again so routing's inner loop adds as it
    /// reads (one closure for both measured 5% slower decisions).
    #[inline]
    pub(super) fn add_row(&self, b: u32, acc: &mut [i32]) {
        let at = b as usize * self.k;
        match self.rows {
            Rows::Bytes(q) => {
                let row = &q[at * 2..(at + self.k) * 2];
                for (a, c) in acc.iter_mut().zip(row.chunks_exact(2)) {
                    *a += i32::from(i16::from_le_bytes([c[0], c[1]]));
                }
            }
            Rows::Ints(q) => {
                for (a, &w) in acc.iter_mut().zip(&q[at..at + self.k]) {
                    *a += i32::from(w);
                }
            }
        }
    }
}

/// `weights` quantized: `weight = q * scale`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Packed {
    /// The quantized weights, laid out as `weights`.
    pub(super) q: Vec<i16>,
    /// The factor that turns a quantized weight back into a weight.
    pub(super) scale: f32,
}
