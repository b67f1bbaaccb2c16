//! Rotary position embeddings with a cos/sin table.

use std::sync::OnceLock;

/// Which pairs of a head's dimensions rotate together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs (2i, 2i+1): GGUF Llama weights are permuted for this layout.
    Interleaved,
    /// Halves (i, i + d/2): the GPT-NeoX layout that Gemma uses.
    Halves,
}

/// How a model stretches its rotation past the context it was trained on, as llama.cpp's
/// rope applies it (`ggml_rope_ext` without YaRN): pair `i`'s angle is divided by
/// `freq_factors[i]` (Llama 3.1's scaling, llama.cpp's `rope_freqs` tensor) and multiplied by
/// `freq_scale` (linear scaling: one over its factor).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RopeScaling {
    pub freq_scale: Option<f32>,
    pub freq_factors: Option<Vec<f32>>,
}

/// cos/sin of `position * base^(-2i/rot_dim)` (scaled as [`RopeScaling`] says) for every
/// position below `max_positions`, computed a page of positions at a time when a position of
/// it is first used: a model's context (32,768 positions of 128 pairs for Gemma 3, 33 MB a
/// table) is mostly never reached.
pub struct RopeTable {
    style: RopeStyle,
    rot_dim: usize,
    theta_scale: f32,
    scaling: RopeScaling,
    max_positions: usize,
    pages: Vec<OnceLock<Page>>,
}

/// Positions per lazily computed page of a [`RopeTable`].
const PAGE: usize = 256;

/// cos and sin of one page's positions, `[position][pair]`.
struct Page {
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl RopeTable {
    pub fn new(style: RopeStyle, rot_dim: usize, base: f32, max_positions: usize) -> Self {
        Self::scaled(style, rot_dim, base, RopeScaling::default(), max_positions)
    }

    /// [`RopeTable::new`] with `scaling`. Freq factors, if any, are one per pair
    /// (`rot_dim / 2`); the caller checks.
    pub fn scaled(
        style: RopeStyle,
        rot_dim: usize,
        base: f32,
        scaling: RopeScaling,
        max_positions: usize,
    ) -> Self {
        assert!(
            scaling
                .freq_factors
                .as_ref()
                .is_none_or(|f| f.len() == rot_dim / 2),
            "one freq factor per rotated pair"
        );
        RopeTable {
            style,
            rot_dim,
            theta_scale: base.powf(-2.0 / rot_dim as f32),
            scaling,
            max_positions,
            pages: (0..max_positions.div_ceil(PAGE))
                .map(|_| OnceLock::new())
                .collect(),
        }
    }

    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// The page holding `position`, computed on first use.
    fn page(&self, position: usize) -> &Page {
        self.pages[position / PAGE].get_or_init(|| {
            let half = self.rot_dim / 2;
            let first = position / PAGE * PAGE;
            let positions = first..(first + PAGE).min(self.max_positions);
            let mut page = Page {
                cos: Vec::with_capacity(positions.len() * half),
                sin: Vec::with_capacity(positions.len() * half),
            };
            for pos in positions {
                // The same f32 recurrence as ggml's rope cache (theta *= base^(-2/d)), so that
                // angles round as they do in llama.cpp.
                let mut theta = pos as f32;
                for i in 0..half {
                    let angle = self.scale(theta, i);
                    page.cos.push(angle.cos());
                    page.sin.push(angle.sin());
                    theta *= self.theta_scale;
                }
            }
            page
        })
    }

    /// Pair `i`'s angle `theta` as the scaling stretches it (ggml's order: the factor's
    /// division first, then the scale); unscaled tables leave it untouched.
    fn scale(&self, theta: f32, i: usize) -> f32 {
        let theta = match &self.scaling.freq_factors {
            Some(factors) => theta / factors[i],
            None => theta,
        };
        match self.scaling.freq_scale {
            Some(scale) => scale * theta,
            None => theta,
        }
    }

    /// [`Self::apply`] to each row of `x` (rows of `width`), row `r` at `positions[r]`: in
    /// parallel for a prompt's rows.
    pub fn apply_rows(&self, x: &mut [f32], width: usize, head_dim: usize, positions: &[usize]) {
        assert_eq!(x.len(), width * positions.len(), "one position per row");
        crate::cpu::for_each_row(x, width, |r, row| self.apply(row, head_dim, positions[r]));
    }

    /// Rotates every head of one token's `x` (heads of width `head_dim`) for `position`.
    /// Dimensions past `rot_dim` are left alone (partial rotary).
    pub fn apply(&self, x: &mut [f32], head_dim: usize, position: usize) {
        assert!(
            position < self.max_positions,
            "position {position} is past the table"
        );
        let (half, page) = (self.rot_dim / 2, self.page(position));
        let at = position % PAGE * half;
        let (cos, sin) = (&page.cos[at..at + half], &page.sin[at..at + half]);
        for head in x.chunks_exact_mut(head_dim) {
            for i in 0..half {
                let (a, b) = match self.style {
                    RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                    RopeStyle::Halves => (i, i + half),
                };
                let (x0, x1) = (head[a], head[b]);
                // As llama.cpp's compiled rotation: the products of x0 fused (FMA), those of x1
                // rounded first (checked bit for bit against its tensors).
                head[a] = x0.mul_add(cos[i], -(x1 * sin[i]));
                head[b] = x0.mul_add(sin[i], x1 * cos[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_rotate_as_one_at_a_time_serial_or_parallel() {
        let table = RopeTable::new(RopeStyle::Halves, 8, 100.0, 512);
        for rows in [3, 200] {
            let x: Vec<f32> = (0..rows * 16)
                .map(|i| (i % 23) as f32 / 7.0 - 1.5)
                .collect();
            let positions: Vec<usize> = (0..rows).map(|r| (r * 37) % 512).collect();
            let mut all = x.clone();
            table.apply_rows(&mut all, 16, 8, &positions);
            for (r, row) in x.chunks_exact(16).enumerate() {
                let mut one = row.to_vec();
                table.apply(&mut one, 8, positions[r]);
                assert_eq!(one, all[r * 16..(r + 1) * 16], "row {r} of {rows}");
            }
            assert_ne!(all, x);
        }
    }

    #[test]
    fn position_zero_is_identity() {
        let table = RopeTable::new(RopeStyle::Interleaved, 4, 10000.0, 8);
        let mut x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        table.apply(&mut x, 4, 0);
        assert_eq!(x, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    }

    #[test]
    fn rotation_keeps_pair_norms_and_relative_angles() {
        // q·k after rotation depends only on the distance between positions.
        let table = RopeTable::new(RopeStyle::Halves, 8, 100.0, 64);
        let q0 = [0.3, -1.0, 0.5, 2.0, 1.5, 0.1, -0.7, 0.9];
        let k0 = [1.0, 0.2, -0.4, 0.8, -1.1, 0.6, 0.3, -0.2];
        let dot_at = |pq: usize, pk: usize| {
            let (mut q, mut k) = (q0, k0);
            table.apply(&mut q, 8, pq);
            table.apply(&mut k, 8, pk);
            q.iter().zip(&k).map(|(a, b)| a * b).sum::<f32>()
        };
        assert!((dot_at(10, 7) - dot_at(33, 30)).abs() < 1e-4);
        assert!((dot_at(10, 7) - dot_at(10, 9)).abs() > 1e-3);
        let mut q = q0;
        table.apply(&mut q, 8, 17);
        let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>();
        assert!((norm(&q) - norm(&q0)).abs() < 1e-4);
    }

    /// Positions on later pages (and on a short last page) rotate by their own angles.
    #[test]
    fn every_page_holds_its_own_positions() {
        let max = 2 * PAGE + 3;
        let table = RopeTable::new(RopeStyle::Interleaved, 2, 10000.0, max);
        for pos in [PAGE - 1, PAGE, 2 * PAGE + 2] {
            let mut x = [1.0, 0.0];
            table.apply(&mut x, 2, pos);
            assert_eq!(x, [(pos as f32).cos(), (pos as f32).sin()], "{pos}");
        }
        assert_eq!(table.max_positions(), max);
    }

    /// Linear scaling by 2 turns position 2p into position p (scaling by a power of two is
    /// exact); freq factors of 1 change nothing, and a factor f on a pair divides its angle.
    #[test]
    fn scaling_stretches_the_angles() {
        let plain = RopeTable::new(RopeStyle::Halves, 8, 100.0, 64);
        let scaling = |freq_scale, freq_factors| RopeScaling {
            freq_scale,
            freq_factors,
        };
        let stretched =
            RopeTable::scaled(RopeStyle::Halves, 8, 100.0, scaling(Some(0.5), None), 64);
        let ones = scaling(None, Some(vec![1.0; 4]));
        let factored = RopeTable::scaled(RopeStyle::Halves, 8, 100.0, ones, 64);
        let q0 = [0.3, -1.0, 0.5, 2.0, 1.5, 0.1, -0.7, 0.9];
        let at = |table: &RopeTable, pos| {
            let mut q = q0;
            table.apply(&mut q, 8, pos);
            q
        };
        assert_eq!(at(&stretched, 20), at(&plain, 10));
        assert_eq!(at(&factored, 13), at(&plain, 13));
        let first = scaling(None, Some(vec![4.0, 1.0, 1.0, 1.0]));
        let slowed = RopeTable::scaled(RopeStyle::Interleaved, 8, 100.0, first, 64);
        let mut x = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        slowed.apply(&mut x, 8, 8);
        assert_eq!(&x[..2], &[2f32.cos(), 2f32.sin()]);
    }

    #[test]
    fn partial_rotary_leaves_tail_alone() {
        let table = RopeTable::new(RopeStyle::Interleaved, 2, 10000.0, 4);
        let mut x = [1.0, 0.0, 5.0, 6.0];
        table.apply(&mut x, 4, 1);
        assert_eq!(&x[2..], &[5.0, 6.0]);
        assert!((x[0] - 1f32.cos()).abs() < 1e-6);
    }
}
