//! A browser's screenshot as pixels, and where its colours are.

use std::ops::Range;

/// An image as rows of RGB pixels (alpha dropped: screenshots are opaque).
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub px: Vec<[u8; 3]>,
}

/// A rectangle of pixels, ends exclusive.
#[derive(Debug, Clone, Copy)]
pub struct Rect {
    pub left: usize,
    pub top: usize,
    pub right: usize,
    pub bottom: usize,
}

impl Rect {
    pub fn width(&self) -> usize {
        self.right - self.left
    }

    /// The rectangle's upper `f` (0..1) part.
    pub fn top_fraction(&self, f: f64) -> Rect {
        let h = ((self.bottom - self.top) as f64 * f) as usize;
        Rect {
            bottom: self.top + h,
            ..*self
        }
    }
}

/// Whether two colours are the same give or take rounding (2 per channel).
fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 2)
}

impl Image {
    pub fn at(&self, x: usize, y: usize) -> [u8; 3] {
        self.px[y * self.width + x]
    }

    /// Whether every pixel in columns `xs` (all rows) is `colour`.
    pub fn columns_all(&self, xs: Range<usize>, colour: [u8; 3]) -> bool {
        (0..self.height).all(|y| xs.clone().all(|x| near(self.at(x, y), colour)))
    }

    /// The smallest rectangle holding every pixel of `colour`.
    pub fn bounding_box(&self, colour: [u8; 3]) -> Option<Rect> {
        let mut r: Option<Rect> = None;
        for y in 0..self.height {
            for x in 0..self.width {
                if near(self.at(x, y), colour) {
                    let b = r.get_or_insert(Rect {
                        left: x,
                        top: y,
                        right: x + 1,
                        bottom: y + 1,
                    });
                    b.left = b.left.min(x);
                    b.right = b.right.max(x + 1);
                    b.bottom = y + 1;
                }
            }
        }
        r
    }

    /// Pixels of `colour` inside `r`.
    pub fn count_in(&self, r: &Rect, colour: [u8; 3]) -> usize {
        (r.top..r.bottom)
            .flat_map(|y| (r.left..r.right).map(move |x| (x, y)))
            .filter(|&(x, y)| near(self.at(x, y), colour))
            .count()
    }
}

/// Decodes a PNG (the `png` crate) into opaque RGB; panics on anything a browser screenshot
/// would not be.
pub fn decode(bytes: &[u8]) -> Image {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("image size")];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "8-bit samples");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        t => panic!("colour type {t:?}"),
    };
    let (width, height) = (info.width as usize, info.height as usize);
    let px: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks_exact(info.line_size)
        .flat_map(|row| row[..width * channels].chunks_exact(channels))
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    assert_eq!(px.len(), width * height, "truncated image data");
    Image { width, height, px }
}
