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

/// cos/sin of `position * base^(-2i/rot_dim)` for every position below `max_positions`,
/// computed a page of positions at a time when a position of it is first used: a model's
/// context (32,768 positions of 128 pairs for Gemma 3, 33 MB a table) is mostly never reached.
pub struct RopeTable {
    style: RopeStyle,
    rot_dim: usize,
    theta_scale: f32,
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
        RopeTable {
            style,
            rot_dim,
            theta_scale: base.powf(-2.0 / rot_dim as f32),
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
                for _ in 0..half {
                    page.cos.push(theta.cos());
                    page.sin.push(theta.sin());
                    theta *= self.theta_scale;
                }
            }
            page
        })
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

    #[test]
    fn partial_rotary_leaves_tail_alone() {
        let table = RopeTable::new(RopeStyle::Interleaved, 2, 10000.0, 4);
        let mut x = [1.0, 0.0, 5.0, 6.0];
        table.apply(&mut x, 4, 1);
        assert_eq!(&x[2..], &[5.0, 6.0]);
        assert!((x[0] - 1f32.cos()).abs() < 1e-6);
    }
}
