/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <pidvisor.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "opts.h"

void usage_error(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        fputs("pidvisor: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputs("\nTry 'pidvisor --help' for more information.\n", stderr);
        va_end(ap);
        exit(EXIT_FAILURE_OWN);
}

static void help(void)
{
        fputs("Usage: pidvisor [OPTIONS] [--] COMMAND [ARG...]\n"
              "Run COMMAND, pass its stdin and stdout through, turn its stderr into a log,\n"
              "stop it gracefully on a signal or a deadline, and report how it ended.\n\n"
              "  -g, --grace=DURATION      SIGTERM -> SIGKILL grace on stop (default 5s)\n"
              "  -t, --timeout=DURATION    stop the program after DURATION (exit status 124)\n"
              "      --kill-tree           run the program in a cgroup of its own (else its own\n"
              "                            process group) and stop the whole tree\n"
              "      --preserve-fds=N      pass fds 3 to N+2 to the program\n"
              "      --stderr-prefix=WHAT  prefix each stderr line: none | time | pid | time,pid\n"
              "      --report=FILE         write a JSON exit report to FILE ('-' for stderr)\n"
              "      --features            print what this machine offers, then exit\n"
              "      --json                with --features: as one JSON object\n"
              "  -q, --quiet               no messages of pidvisor's own\n"
              "  -h, --help                this help\n"
              "      --version             the version\n\n"
              "DURATION: 500ms, 5s, 2m, 1h, or a plain number of seconds.\n"
              "SIGTERM, SIGINT or SIGHUP start the graceful stop; a second one kills at once.\n"
              "Exit status: the program's; 128+N if killed by signal N; 124 if --timeout fired;\n"
              "125 if pidvisor failed; 126 if COMMAND is not executable; 127 if not found.\n",
              stdout);
}

static void parse_grace(struct opts *o, const char *s)
{
        int r = duration_parse(s, &o->grace_ms);

        if (r == -ERANGE || (r == 0 && o->grace_ms > GRACE_MAX_MS))
                usage_error("grace '%s' is beyond its cap, %llums (about %llu hours)", s,
                            (unsigned long long)GRACE_MAX_MS,
                            (unsigned long long)GRACE_MAX_MS / 3600000);
        if (r < 0 || o->grace_ms == 0)
                usage_error("invalid grace '%s'", s);
}

static void parse_timeout(struct opts *o, const char *s)
{
        int r = duration_parse(s, &o->timeout_ms);

        if (r == -ERANGE)
                usage_error("timeout '%s' is beyond its cap, %lluh (366 days)", s,
                            (unsigned long long)DURATION_MAX_MS / 3600000);
        if (r < 0 || o->timeout_ms == 0)
                usage_error("invalid timeout '%s'", s);
}

static void parse_preserve(struct opts *o, const char *s)
{
        char *end;
        unsigned long n;

        errno = 0;
        n = strtoul(s, &end, 10);
        if (*s < '0' || *s > '9' || *end)
                usage_error("invalid --preserve-fds '%s'", s);
        if (errno == ERANGE || n > PRESERVE_FDS_MAX)
                usage_error("--preserve-fds '%s' is beyond its cap, %u", s, PRESERVE_FDS_MAX);
        o->preserve_fds = (unsigned)n;
}

static void parse_prefix(struct opts *o, const char *s)
{
        if (!strcmp(s, "none"))
                o->prefix = 0;
        else if (!strcmp(s, "time"))
                o->prefix = PREFIX_TIME;
        else if (!strcmp(s, "pid"))
                o->prefix = PREFIX_PID;
        else if (!strcmp(s, "time,pid"))
                o->prefix = PREFIX_TIME | PREFIX_PID;
        else
                usage_error("invalid stderr prefix '%s'", s);
}

enum { O_KILL_TREE = 256, O_PREFIX, O_REPORT, O_FEATURES, O_JSON, O_VERSION, O_PRESERVE };

static const struct option longs[] = {
        { "grace", required_argument, NULL, 'g' },
        { "timeout", required_argument, NULL, 't' },
        { "kill-tree", no_argument, NULL, O_KILL_TREE },
        { "preserve-fds", required_argument, NULL, O_PRESERVE },
        { "stderr-prefix", required_argument, NULL, O_PREFIX },
        { "report", required_argument, NULL, O_REPORT },
        { "features", no_argument, NULL, O_FEATURES },
        { "json", no_argument, NULL, O_JSON },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, O_VERSION },
        { 0 }
};

static void parse_one(struct opts *o, int c, char **argv)
{
        switch (c) {
        case 'g': parse_grace(o, optarg); break;
        case 't': parse_timeout(o, optarg); break;
        case O_KILL_TREE: o->kill_tree = true; break;
        case O_PRESERVE: parse_preserve(o, optarg); break;
        case O_PREFIX: parse_prefix(o, optarg); break;
        case O_REPORT:
                if (!*optarg)
                        usage_error("empty report file name");
                o->report = optarg;
                break;
        case O_FEATURES: o->features = true; break;
        case O_JSON: o->json = true; break;
        case 'q': o->quiet = true; break;
        case 'h':
                help();
                exit(0);
        case O_VERSION:
                printf("pidvisor %d.%d.%d\n", PV_VERSION_MAJOR, PV_VERSION_MINOR,
                       PV_VERSION_PATCH);
                exit(0);
        case ':':
                usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
                if (optopt)
                        usage_error("unknown option '-%c'", optopt);
                usage_error("unknown option '%s'", argv[optind - 1]);
        }
}

void opts_parse(struct opts *o, int argc, char **argv)
{
        int c;

        *o = (struct opts){ .grace_ms = 5000 };
        opterr = 0;
        /* '+': stop at the first non-option, which is the command. */
        while ((c = getopt_long(argc, argv, "+:g:t:qh", longs, NULL)) != -1)
                parse_one(o, c, argv);
        if (o->json && !o->features)
                usage_error("--json goes with --features");
        if (o->features)
                return;
        if (optind >= argc)
                usage_error("no command given");
        o->argv = argv + optind;
}
