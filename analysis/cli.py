"""cli.py - the command line both analysis scripts share: RESULTS.h5 [-o DIR].

A file that cannot be read as a results file ends the program with a one-line
message naming it on stderr and exit status 2.
"""
import argparse
import os
import sys

import resultsfile

EXIT_ERROR = 2


def default_outdir(path):
    """results/x.h5 -> results/x/ (beside the results file)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.join(os.path.dirname(os.path.abspath(path)), stem)


def start(description, what):
    """Parse RESULTS.h5 [-o DIR], load the file, create DIR; return (ResultsFile, DIR)."""
    prog = os.path.basename(sys.argv[0])
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("results", metavar="RESULTS.h5", help="a deepsigns results file")
    ap.add_argument("-o", "--outdir", metavar="DIR",
                    help="where to write the %s (default: beside the results file, "
                         "a folder named after it)" % what)
    args = ap.parse_args()
    try:
        rf = resultsfile.load(args.results)
    except resultsfile.ResultsFileError as e:
        sys.stderr.write("%s: %s: %s\n" % (prog, args.results, e))
        sys.exit(EXIT_ERROR)
    outdir = args.outdir or default_outdir(args.results)
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as e:
        sys.stderr.write("%s: cannot create %s: %s\n" % (prog, outdir, e.strerror))
        sys.exit(EXIT_ERROR)
    return rf, outdir


def report_written(paths):
    print("wrote:" if paths else "wrote: nothing")
    for p in paths:
        print("  " + p)
