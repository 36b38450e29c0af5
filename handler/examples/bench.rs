//! Times the engine on one source: `bench FILE PROCESS [ITERATIONS]`.
//! Prints one JSON line: ms/op (median and mean), output size and peak RSS.
//! Single-threaded by construction: every op runs on this thread.

use imgh_handler::engine;
use imgh_handler::guard::Limits;
use imgh_handler::process;
use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    imgh_handler::alloc::configure();
    let args: Vec<String> = std::env::args().collect();
    let (file, process_text) = match (args.get(1), args.get(2)) {
        (Some(f), Some(p)) => (f, p),
        _ => {
            eprintln!("usage: bench FILE PROCESS [ITERATIONS]");
            std::process::exit(2);
        }
    };
    let iterations: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(20);
    let source = std::fs::read(file).expect("read the source image");
    let plan = process::parse(process_text).expect("a valid process");
    let limits = Limits { max_source_bytes: u64::MAX, ..Limits::default() };
    let none = |_: &str| None;
    let mut out_len = 0;
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        let out = engine::process(&source, &plan, &limits, &none).expect("processing succeeds");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        out_len = out.body.len();
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{{\"engine\":\"imgh\",\"ms_median\":{median:.2},\"ms_mean\":{mean:.2},\"out_bytes\":{out_len},\"peak_rss_mb\":{:.1}}}",
        peak_rss_mb()
    );
}

/// VmHWM from /proc/self/status (Linux): the peak resident set size.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
