//! Speed of the `extract` stage: parse + extract per page, single thread, over the shared
//! extraction corpus (pages unpacked and decoded in memory first, as the reference figures in
//! `corpora/extraction/README.md` were measured). Goal: ≤ 5 ms per page on average.
//!
//! Run: `cargo bench --bench extract`. Criterion reports the time for one pass over all pages;
//! the per-page average is printed after it. Skips with a message when the corpus is missing
//! (`FEEDWATCH_SHARED_DIR` or `../shared`).

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use feedwatch::extract::Extractor;

fn load_pages() -> Option<Vec<String>> {
    let shared = std::env::var_os("FEEDWATCH_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("shared")
        });
    let dir = shared.join("corpora").join("extraction").join("html");
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(_) => {
            println!("skipped: extraction corpus {} not found", dir.display());
            return None;
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".html.gz"))
        .collect();
    paths.sort();
    let mut pages = Vec::with_capacity(paths.len());
    for p in paths {
        let mut s = String::new();
        let f = std::fs::File::open(&p).ok()?;
        flate2::read::GzDecoder::new(f)
            .read_to_string(&mut s)
            .ok()?;
        pages.push(s);
    }
    (!pages.is_empty()).then_some(pages)
}

fn bench(c: &mut Criterion) {
    let Some(pages) = load_pages() else { return };
    let ex = Extractor::default();
    let mut group = c.benchmark_group("extract");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function(format!("corpus_{}_pages", pages.len()), |b| {
        b.iter(|| {
            for p in &pages {
                std::hint::black_box(ex.extract(std::hint::black_box(p), None));
            }
        })
    });
    group.finish();

    // A plain average over a few passes, in the unit the goal is stated in.
    let passes = 3;
    let t = Instant::now();
    for _ in 0..passes {
        for p in &pages {
            std::hint::black_box(ex.extract(p, None));
        }
    }
    let per_page = t.elapsed().as_secs_f64() * 1000.0 / (passes * pages.len()) as f64;
    println!(
        "extract: {per_page:.2} ms/page average over {} pages x {passes} passes",
        pages.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
