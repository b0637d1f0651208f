/*
 * cmd_gen.c - `leadpipe gen`: write synthetic leads as a CRM export.
 *
 * Glue between the generator (leadgen.c) and the export writer (export.c):
 * parse the options, make N leads, write them to a file or stdout in
 * 1 MiB chunks. The per-lead arena is reset every few hundred leads, so
 * memory stays flat however many leads are asked for.
 *
 * Exit status: 0 written, 1 the output could not be written, 2 usage error.
 * Threads: runs on the main thread only (getopt_long keeps global state).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "cmd.h"
#include "export.h"
#include "leadgen.h"

#define GEN_FLUSH_AT (1u << 20)
#define GEN_MESSY_DUP_RATE 0.06

typedef struct gen_args {
    uint64_t leads;
    bool have_leads, have_dup;
    lp_leadgen_opts gen;
    lp_export_opts exp;
    const char *out; /* NULL: stdout */
} gen_args;

static void gen_usage(FILE *f)
{
    fprintf(f,
            "usage: leadpipe gen --leads N [--seed S] [--format csv|jsonl]\n"
            "                    [--style apollo|hubspot|salesforce|canonical]\n"
            "                    [--dup-rate R] [--invalid-rate R] [--messy] [-o FILE]\n"
            "\n"
            "Writes N synthetic B2B leads. The same options always give the same bytes.\n"
            "\n"
            "  --leads N          number of leads to write (required)\n"
            "  --seed S           random seed, a whole number (default 1)\n"
            "  --format F         csv (default) or jsonl; jsonl uses canonical field names\n"
            "  --style S          CSV header set: apollo (default), hubspot, salesforce or\n"
            "                     canonical (leadpipe's field names)\n"
            "  --dup-rate R       share of leads repeating an earlier person's email in\n"
            "                     other case or spacing, 0..1 (default 0.03; 0.06 with --messy)\n"
            "  --invalid-rate R   share of leads with a bad email, phone or URL, 0..1\n"
            "                     (default 0.02)\n"
            "  --messy            CSV as real exports come: BOM, CRLF, quoted newlines, a\n"
            "                     10 KB field, broken rows, odd sizes and phones\n"
            "  -o, --output FILE  write to FILE instead of standard output\n"
            "  -h, --help         show this help\n");
}

/* Prints a usage error naming the option and returns exit status 2. */
static int gen_fail(const char *opt, const char *val, const char *why)
{
    if (val)
        fprintf(stderr, "leadpipe gen: %s: '%s' %s\n", opt, val, why);
    else
        fprintf(stderr, "leadpipe gen: %s\n", why);
    fprintf(stderr, "Run 'leadpipe gen --help' for usage.\n");
    return 2;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_rate(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0))
        return false;
    *out = v;
    return true;
}

/* Applies one option; returns -1 to go on, or an exit status. */
static int gen_option(gen_args *a, int c, const char *val)
{
    switch (c) {
    case 'n':
        a->have_leads = true;
        return parse_u64(val, &a->leads) ? -1 : gen_fail("--leads", val, "is not a whole number");
    case 's':
        return parse_u64(val, &a->gen.seed) ? -1 : gen_fail("--seed", val, "is not a whole number");
    case 'f':
        return lp_export_format_parse(val, &a->exp.format)
                   ? gen_fail("--format", val, "is not csv or jsonl")
                   : -1;
    case 't':
        return lp_export_style_parse(val, &a->exp.style)
                   ? gen_fail("--style", val, "is not apollo, hubspot, salesforce or canonical")
                   : -1;
    case 'd':
        a->have_dup = true;
        return parse_rate(val, &a->gen.dup_rate) ? -1
                                                 : gen_fail("--dup-rate", val, "is not in 0..1");
    case 'i':
        return parse_rate(val, &a->gen.invalid_rate)
                   ? -1
                   : gen_fail("--invalid-rate", val, "is not in 0..1");
    case 'm':
        a->exp.messy = true;
        return -1;
    case 'o':
        a->out = val;
        return -1;
    case 'h':
        gen_usage(stdout);
        return 0;
    default:
        return 2;
    }
}

/* Parses argv into a; returns -1 when generation should go ahead, or an exit status. */
static int gen_parse(int argc, char **argv, gen_args *a)
{
    static const struct option longopts[] = {
        {"leads", required_argument, NULL, 'n'},    {"seed", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'},   {"style", required_argument, NULL, 't'},
        {"dup-rate", required_argument, NULL, 'd'}, {"invalid-rate", required_argument, NULL, 'i'},
        {"messy", no_argument, NULL, 'm'},          {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    int c, rc;
    optind = 0; /* glibc: full reinitialisation, the command table may call us again */
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        if (c == '?')
            return gen_fail(NULL, NULL, "unknown option; see the list in --help");
        if (c == ':')
            return gen_fail(argv[optind - 1], NULL, "this option needs a value");
        if ((rc = gen_option(a, c, optarg)) >= 0)
            return rc;
    }
    if (optind < argc)
        return gen_fail(argv[optind], NULL, "unexpected argument");
    if (!a->have_leads)
        return gen_fail(NULL, NULL, "--leads N is required");
    if (a->exp.messy && a->exp.format != LP_EXPORT_CSV)
        return gen_fail(NULL, NULL, "--messy applies to --format csv only");
    if (a->exp.messy && !a->have_dup)
        a->gen.dup_rate = GEN_MESSY_DUP_RATE;
    if (a->gen.dup_rate + a->gen.invalid_rate > 1.0)
        return gen_fail(NULL, NULL, "--dup-rate and --invalid-rate add up to more than 1");
    a->exp.seed = a->gen.seed;
    a->exp.rows = a->leads;
    return -1;
}

/* Writes and empties the buffer. Returns 0, or -1 with errno set. */
static int gen_flush(FILE *f, lp_buf *b)
{
    if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
        return -1;
    lp_buf_reset(b);
    return 0;
}

/* Generates the leads into f. Returns LP_OK, LP_E_NOMEM or LP_E_IO. */
static lp_err_t gen_write(const gen_args *a, FILE *f)
{
    lp_err_t err = LP_E_NOMEM;
    lp_leadgen *g = lp_leadgen_new(&a->gen);
    lp_export *x = NULL;
    lp_buf b;
    lp_arena arena;
    lp_lead l;
    lp_buf_init(&b);
    lp_arena_init(&arena, 0);
    if (!g || (err = lp_export_new(&a->exp, &x)) || (err = lp_export_begin(x, &b)))
        goto out;
    for (uint64_t i = 0; i < a->leads; i++) {
        lp_leadgen_next(g, &l, &arena);
        if ((err = lp_export_lead(x, &l, &b)))
            goto out;
        if ((i & 255) == 255)
            lp_arena_reset(&arena);
        if (b.len >= GEN_FLUSH_AT && gen_flush(f, &b)) {
            err = LP_E_IO;
            goto out;
        }
    }
    err = gen_flush(f, &b) || fflush(f) ? LP_E_IO : LP_OK;
out:
    lp_export_free(x);
    lp_leadgen_free(g);
    lp_arena_free(&arena);
    lp_buf_free(&b);
    return err;
}

int lp_cmd_gen(int argc, char **argv)
{
    gen_args a;
    memset(&a, 0, sizeof(a));
    lp_leadgen_opts_init(&a.gen);
    a.exp.style = LP_EXPORT_APOLLO;
    a.exp.format = LP_EXPORT_CSV;
    int rc = gen_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    FILE *f = a.out ? fopen(a.out, "wb") : stdout;
    if (!f) {
        fprintf(stderr, "leadpipe gen: cannot open '%s': %s\n", a.out, strerror(errno));
        return 1;
    }
    lp_err_t err = gen_write(&a, f);
    int saved = errno;
    if (a.out && fclose(f) && err == LP_OK) {
        saved = errno;
        err = LP_E_IO;
    }
    if (err == LP_OK)
        return 0;
    if (err == LP_E_IO)
        fprintf(stderr, "leadpipe gen: cannot write %s: %s\n", a.out ? a.out : "standard output",
                strerror(saved));
    else
        fprintf(stderr, "leadpipe gen: %s\n", lp_err_str(err));
    return lp_err_exit_code(err);
}
