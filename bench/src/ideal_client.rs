//! `ideal-client`: the efficiency an ideal client reaches under `client-bench`'s fault mix
//! (the model is [`cortex_bench::ideal`]). Prints one JSON object.

use cortex_bench::Args;
use cortex_bench::ideal::{FaultMix, Scenario, spread};

const HELP: &str = "\
ideal-client: the efficiency an ideal client (no CPU, no round trip, a perfect pacer) reaches
under client-bench's fault mix, in simulated time: the ceiling the measured lines compare with.

Usage: ideal-client [OPTIONS]

Options:
  --rate RPS         requests/s per endpoint, also the burst (default 200)
  --chains N         chains (default: rate x 31, as client-bench)
  --calls K          calls per chain, at least 3: the library's 3, the CLI's 4 (default 3)
  --seeds S          runs, seeds 0.. (default 40)
  --latency-ms MS    latency before the limiter, as the emulator's --latency-ms (default 0)
  --overhead-s X     a fixed time added to every wall, e.g. a CLI's start and exit (default 0)
  --target E         the efficiency whose share of runs is printed (default 0.97)
  --help             this text

Prints {\"model\": \"ideal-client\", the settings, \"efficiency_mean\", \"efficiency_p10\",
\"efficiency_min\", \"efficiency_max\", \"tail_s_mean\", \"target\", \"share_at_or_above_target\"}.";

fn main() -> anyhow::Result<()> {
    let args = Args::from_env();
    if args.flag("--help") || args.flag("-h") {
        println!("{HELP}");
        return Ok(());
    }
    let rate: u32 = args.parsed("--rate", 200)?;
    let calls: usize = args.parsed("--calls", 3)?;
    if rate == 0 || calls < 3 {
        anyhow::bail!(
            "--rate must be at least 1 and --calls at least 3 (status, create, read back)"
        );
    }
    let chains: u32 = args.parsed("--chains", rate * 31)?;
    let seeds: u64 = args.parsed("--seeds", 40)?;
    let latency_ms: f64 = args.parsed("--latency-ms", 0.0)?;
    let overhead_s: f64 = args.parsed("--overhead-s", 0.0)?;
    let target: f64 = args.parsed("--target", 0.97)?;
    let scenario = Scenario {
        rate,
        chains,
        calls,
        latency_s: latency_ms / 1000.0,
    };
    let mut line = spread(&scenario, &FaultMix::BENCH, seeds.max(1), overhead_s).summary(target);
    for (key, value) in [
        ("model", serde_json::json!("ideal-client")),
        ("rate_limit_rps", rate.into()),
        ("chains", chains.into()),
        ("calls", calls.into()),
        ("seeds", seeds.max(1).into()),
        ("latency_ms", latency_ms.into()),
        ("overhead_s", overhead_s.into()),
    ] {
        line[key] = value;
    }
    println!("{line}");
    Ok(())
}
