//! Just enough PNG to read a browser's screenshot (8-bit RGB or RGBA, not interlaced) and
//! ask where colours are: written here, with the flate2 the tests already have, rather than
//! adding an image crate for one test.

use std::io::Read;
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

fn be32(b: &[u8]) -> usize {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
}

/// Decodes a PNG; panics on anything a browser screenshot would not be.
pub fn decode(bytes: &[u8]) -> Image {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut width, mut height, mut channels) = (0, 0, 0);
    let mut idat = Vec::new();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = be32(&bytes[at..]);
        let kind = &bytes[at + 4..at + 8];
        let data = &bytes[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                width = be32(data);
                height = be32(&data[4..]);
                assert_eq!(data[8], 8, "8-bit samples");
                assert_eq!(data[12], 0, "not interlaced");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("colour type {t}"),
                };
            }
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .expect("inflate");
    let stride = width * channels;
    let mut prev = vec![0u8; stride];
    let mut px = Vec::with_capacity(width * height);
    for row in raw.chunks_exact(stride + 1).take(height) {
        let cur = unfilter(row[0], &row[1..], &prev, channels);
        px.extend(cur.chunks_exact(channels).map(|p| [p[0], p[1], p[2]]));
        prev = cur;
    }
    assert_eq!(px.len(), width * height, "truncated image data");
    Image { width, height, px }
}

/// One scanline with its filter (`kind`) undone, given the previous decoded line.
fn unfilter(kind: u8, line: &[u8], prev: &[u8], bpp: usize) -> Vec<u8> {
    let mut out = vec![0u8; line.len()];
    for i in 0..line.len() {
        let a = if i >= bpp { out[i - bpp] } else { 0 };
        let b = prev[i];
        let c = if i >= bpp { prev[i - bpp] } else { 0 };
        let pred = match kind {
            0 => 0,
            1 => a,
            2 => b,
            3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
            4 => paeth(a, b, c),
            k => panic!("filter {k}"),
        };
        out[i] = line[i].wrapping_add(pred);
    }
    out
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}
