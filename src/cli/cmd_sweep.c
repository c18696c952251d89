/* cmd_sweep.c - `deepsigns sweep`: run an experiment spec over MPI ranks. */
#include <cblas.h>
#include <getopt.h>
#include <mpi.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/outpath.h"
#include "deepsigns/sweep.h"

static const char sweep_usage[] =
    "usage: [mpirun -np P] deepsigns sweep SPEC.yaml [-o RESULTS.h5] [--resume] [options]\n"
    "\n"
    "Expand an experiment spec into cells (train, embed, attack, null check) and run\n"
    "them: rank 0 coordinates and writes the results file, ranks 1..P-1 run cells\n"
    "(with P = 1 rank 0 runs them itself). Run one rank per core plus one (the\n"
    "coordinator sleeps while it waits).\n"
    "\n"
    "  -o, --output FILE  results file (default results/<spec name>.h5); refuses\n"
    "                   to replace an existing one; not a symbolic link\n"
    "  --set K.PATH=V   override a key of the spec (repeatable), e.g. --set\n"
    "                   train.epochs=1 --set data.train_limit=512 --set\n"
    "                   'attacks.0.rate=[0.5]'; checked like the spec, and the\n"
    "                   text that ran (with the overrides) is the file's spec_text\n"
    "  --resume         continue FILE: skip the cells already in it\n"
    "  --force          with --resume: accept a file made from another spec or\n"
    "                   other data (its history, /runs, keeps both)\n"
    "  --threads N      BLAS threads per rank (default 1)\n"
    "  --cache-mb N     each worker keeps at most N MiB of models and keys it\n"
    "                   received or made (default 1024); the coordinator keeps\n"
    "                   none: they are in the blob store\n"
    "  --grace S        after a stop signal, wait up to S seconds for the cells in\n"
    "                   flight before leaving (default 30)\n"
    "  --quiet          no progress output\n"
    "  -h, --help       this help\n"
    "\n"
    "Stopping cleanly: SIGTERM, SIGINT or SIGUSR1 to the ranks (srun delivers them;\n"
    "with mpirun send SIGUSR1 to mpirun, which forwards it: mpirun itself answers\n"
    "SIGTERM and SIGINT by killing the job, which loses only the cells in flight).\n"
    "The coordinator then starts no new cell, waits for those in flight, writes the\n"
    "file and exits 3; --resume runs the rest.\n"
    "\n"
    "Exit status: 0 every cell ran (failed cells are results: see the file), 2 error,\n"
    "3 interrupted (run again with --resume).\n";

enum { OPT_RESUME = 256, OPT_FORCE, OPT_THREADS, OPT_GRACE, OPT_QUIET, OPT_SET, OPT_CACHE_MB, MAX_SETS = 64 };
enum { CLI_EXIT_INTERRUPTED = 3 };

static const struct option sweep_options[] = {
    {"output", required_argument, NULL, 'o'},
    {"out", required_argument, NULL, 'o'}, /* the spelling of older versions */
    {"resume", no_argument, NULL, OPT_RESUME},
    {"set", required_argument, NULL, OPT_SET},
    {"cache-mb", required_argument, NULL, OPT_CACHE_MB},
    {"force", no_argument, NULL, OPT_FORCE},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* The stop signals are blocked in every thread (MPI's progress threads, the
 * BLAS and OpenMP pools inherit the mask) and taken by this one thread with
 * sigwait: a signal that interrupts a system call in a library thread (seen:
 * heap corruption in PMIx's send handler after SIGUSR1) never happens. arg is
 * a malloc'd sigset_t, owned by the thread. */
static void *signal_thread(void *arg)
{
    sigset_t set = *(sigset_t *)arg;
    free(arg);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) == 0) stop_requested = 1;
    }
    return NULL;
}

/* Block SIGTERM, SIGINT and SIGUSR1 in the calling thread (and so in every
 * thread it starts later) and start the thread that waits for them. */
static int stop_signals_route(ds_err *err)
{
    sigset_t *set = malloc(sizeof *set);
    if (!set) return ds_err_set(err, DS_ENOMEM, "out of memory for the signal thread");
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGUSR1);
    int rc = pthread_sigmask(SIG_BLOCK, set, NULL);
    pthread_t t;
    if (!rc) rc = pthread_create(&t, NULL, signal_thread, set);
    if (rc) {
        free(set);
        return ds_err_set(err, DS_ELIB, "cannot start the signal thread: %s", strerror(rc));
    }
    pthread_detach(t);
    return DS_OK;
}

/* sets[MAX_SETS] receives the --set values (argv strings). */
static int parse(int argc, char **argv, ds_sweep_opts *o, const char **sets, int *quiet, ds_err *err)
{
    long v;
    double x;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", sweep_options, NULL)) != -1) {
        ds_status st = DS_OK;
        switch (c) {
        case 'o': o->out = optarg; break;
        case OPT_RESUME: o->resume = 1; break;
        case OPT_SET:
            if (o->nsets == MAX_SETS) st = ds_err_set(err, DS_ERANGE, "--set: at most %d overrides", MAX_SETS);
            else sets[o->nsets++] = optarg;
            o->sets = sets;
            break;
        case OPT_FORCE: o->force = 1; break;
        case OPT_THREADS:
            if (!(st = cli_parse_int("--threads", optarg, 1, 1024, &v, err))) o->threads = (int)v;
            break;
        case OPT_CACHE_MB:
            if (!(st = cli_parse_int("--cache-mb", optarg, 1, 1 << 20, &v, err))) o->cache_mb = (int)v;
            break;
        case OPT_GRACE:
            if (!(st = cli_parse_float("--grace", optarg, 0.0, 86400.0, &x, err))) o->grace = x;
            break;
        case OPT_QUIET: *quiet = 1; break;
        case 'h': return 1;
        default:
            st = ds_err_set(err, DS_EINVAL, "unknown or incomplete option '%s' (see --help)",
                            argv[optind - 1]);
        }
        if (st) return -1;
    }
    if (optind != argc - 1) {
        ds_err_set(err, DS_EINVAL, "expected one spec file (see --help)");
        return -1;
    }
    o->spec_path = argv[optind];
    return 0;
}

int cmd_sweep(int argc, char **argv)
{
    const char *sets[MAX_SETS];
    ds_err err = {0};
    ds_sweep_opts o = {.threads = 1, .grace = 30.0, .stop = &stop_requested};
    int quiet = 0;
    int r = parse(argc, argv, &o, sets, &quiet, &err);
    if (r == 1) { fputs(sweep_usage, stdout); return CLI_EXIT_OK; }
    if (r < 0) return cli_fail("sweep", &err);
    if (o.force && !o.resume) return cli_failf("sweep", "--force only makes sense with --resume");
    /* before any MPI or training work: an existing file is refused (or resumed) by the sweep */
    if (o.out && ds_outpath_check("-o", o.out, 1, &err)) return cli_fail("sweep", &err);
    openblas_set_num_threads(o.threads);

    /* before MPI_Init, so that the threads it starts inherit the blocked mask */
    if (stop_signals_route(&err)) return cli_fail("sweep", &err);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (MPI_Init(&argc, &argv) != MPI_SUCCESS) return cli_failf("sweep", "MPI_Init failed");
    /* after MPI_Init, so that ours are the handlers in place should a library
     * thread unblock these signals */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* mpirun forwards SIGUSR1 to every rank */
    int rank = 0, ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    o.progress = rank == 0 && !quiet;
    ds_sweep_summary sum;
    ds_status st = ds_sweep_run(&o, &sum, &err);
    /* errors every rank shares (spec, data) are told once, by rank 0 */
    if (st && (rank == 0 || sum.abort_needed))
        fprintf(stderr, "deepsigns sweep: error: %s%s\n", rank ? "(a worker) " : "", err.msg);
    if (rank == 0 && !st) {
        printf("sweep: %d cells: %d done, %d failed, %d already there; %.1f s\n", sum.total,
               sum.done, sum.failed, sum.skipped, sum.seconds);
        if (ranks > 1 && sum.seconds > 0)
            printf("sweep: coordinator CPU %.2f s (%.2f %% of the wall time): %.2f s writing the "
                   "results file, %.2f s (%.2f %%) the rest, waiting included\n", sum.coord_cpu,
                   100.0 * sum.coord_cpu / sum.seconds, sum.write_cpu, sum.coord_cpu - sum.write_cpu,
                   100.0 * (sum.coord_cpu - sum.write_cpu) / sum.seconds);
        if (sum.commits && sum.seconds > 0)
            printf("sweep: results I/O: %d commits (%d with a model or key), %.2f s (%.2f %% of the wall "
                   "time); median commit%s %.1f ms over the first %d, %.1f ms over the last %d\n",
                   sum.commits, sum.commits_stored, sum.commit_total_s, 100.0 * sum.commit_total_s / sum.seconds,
                   sum.commit_medians_stored ? " with a model or key" : "", 1e3 * sum.commit_median_first_s,
                   sum.commit_window, 1e3 * sum.commit_median_last_s, sum.commit_window);
        if (sum.blobs_written && sum.seconds > 0) {
            const int runners = ranks > 1 ? ranks - 1 : 1;
            printf("sweep: blob store: %d blobs written by the ranks that ran the cells, %.2f s (%.2f %% "
                   "of their %d x %.1f s)\n", sum.blobs_written, sum.blob_write_s,
                   100.0 * sum.blob_write_s / (runners * sum.seconds), runners, sum.seconds);
        }
        if (sum.rss_ranks) {
            printf("sweep: peak resident memory per rank (MiB):");
            for (int k = 0; k < sum.rss_ranks; k++) printf(" %d: %.0f", k, sum.rss_kb[k] / 1024.0);
            printf("%s; largest %.0f\n", ranks > sum.rss_ranks ? " ..." : "", sum.rss_max_kb / 1024.0);
        }
        if (sum.interrupted)
            printf("sweep: interrupted (%d cells lost in flight); run again with --resume\n", sum.lost);
        fflush(stdout);
    }
    if (sum.abort_needed) /* a rank is busy or stuck: only an abort ends the job */
        MPI_Abort(MPI_COMM_WORLD, st ? CLI_EXIT_ERROR : CLI_EXIT_INTERRUPTED);
    MPI_Finalize();
    if (st) return CLI_EXIT_ERROR;
    return sum.interrupted || (rank != 0 && stop_requested) ? CLI_EXIT_INTERRUPTED : CLI_EXIT_OK;
}
