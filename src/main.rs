//! The `coder-audit-shipper` binary: parse the command line, run the command, turn an
//! error into one message and a non-zero exit.

use clap::Parser;
use coder_audit_shipper::cli::{CheckpointCommand, Cli, Command};
use coder_audit_shipper::{commands, telemetry};

/// jemalloc instead of glibc's malloc (as Vector does): each stream's pages are parsed on
/// one thread and freed on another (the sink's, see `pipeline::relay`), which glibc serves
/// under a lock per arena. See BENCHMARKS.md for the figures.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts (`_RJEM_MALLOC_CONF` in the environment still
/// overrides them):
/// - `narenas:1`: one arena instead of four per core. The shipper has a few busy threads,
///   and every extra arena held its own free pages (peak RSS of an ECS backfill: 39 MiB
///   with the default, 29 MiB with one, at the same speed).
/// - `tcache_nslots_small_max:2000,tcache_gc_incr_bytes:1048576`: room for up to 2,000
///   small objects per size in each thread's cache (200 by default), and its clean-up every
///   1 MiB allocated instead of 64 KiB. An entry's strings are allocated on the tailer's
///   thread and freed on the sink's, so one thread's cache empties and the other's
///   overflows all the time; refilling and flushing them in larger batches saved 3.5 %
///   of an ECS backfill's instructions for 1.4 MiB more peak RSS (BENCHMARKS.md, "A
///   release build for the hot path").
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: MallocConf =
    MallocConf(c"narenas:1,tcache_nslots_small_max:2000,tcache_gc_incr_bytes:1048576".as_ptr());

/// A C string pointer that jemalloc reads as `const char *malloc_conf`.
#[repr(transparent)]
struct MallocConf(*const std::ffi::c_char);

// SAFETY: it points at a string literal, immutable and alive for the whole program.
unsafe impl Sync for MallocConf {}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Run {
            config,
            dry_run: false,
        } => commands::run(&config).await,
        Command::Run {
            config,
            dry_run: true,
        } => commands::tap(&config, None, false).await,
        Command::Tap { config, sink, once } => commands::tap(&config, sink.as_deref(), once).await,
        Command::Backfill { config, from, to } => commands::backfill(&config, from, to).await,
        Command::Validate {
            config,
            offline,
            send_test_event,
            sink,
        } => {
            let test_event = send_test_event.then_some(sink.as_deref());
            commands::validate(&config, offline, test_event).await
        }
        Command::ReplayDeadLetters { config, sink } => {
            commands::replay_dead_letters(&config, &sink).await
        }
        Command::Checkpoint {
            command: CheckpointCommand::Show { config, json },
        } => commands::show_checkpoints(&config, json).await,
        #[cfg(feature = "demo")]
        Command::Demo {
            dir,
            duration,
            rate,
            backlog,
        } => commands::demo(dir, duration, rate, backlog).await,
        #[cfg(not(feature = "demo"))]
        Command::Demo { .. } => Err(anyhow::anyhow!(
            "this build has no demo (feature `demo` off)"
        )),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(commands::exit_code(&e))
        }
    }
}
