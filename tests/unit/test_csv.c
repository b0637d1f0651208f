/* Unit tests for csv.c: the RFC 4180 tokenizer and its recovery from
 * broken rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

/* One row as the test sees it: line, error, and fields joined with '|'. */
struct seen {
    int64_t line;
    lp_err_t err;
    int32_t errcol;
    char fields[256];
    char raw[256];
};

/* Tokenizes text completely; returns the number of rows. */
static size_t tokenize(const char *text, size_t len, uint32_t nexpect, size_t max_row,
                       struct seen *out, size_t max)
{
    lp_csv c;
    lp_csv_row row;
    size_t n = 0;
    lp_csv_init(&c, text, len, max_row);
    c.nexpect = nexpect;
    while (lp_csv_next(&c, &row) == LP_OK) {
        assert_true(n < max);
        struct seen *s = &out[n++];
        memset(s, 0, sizeof(*s));
        s->line = row.line;
        s->err = row.err;
        s->errcol = row.errcol;
        snprintf(s->raw, sizeof(s->raw), "%.*s", (int)row.rawlen, row.raw);
        size_t o = 0;
        for (uint32_t i = 0; i < row.nfields; i++) {
            char tmp[128];
            size_t k = lp_csv_unescape(&row.fields[i], tmp);
            o += (size_t)snprintf(s->fields + o, sizeof(s->fields) - o, "%s%.*s", i ? "|" : "",
                                  (int)k, tmp);
        }
    }
    lp_csv_free(&c);
    return n;
}

#define TOK(lit, nexpect, rows) tokenize((lit), sizeof(lit) - 1, (nexpect), 0, (rows), 16)

static void quoted_fields_commas_newlines_and_doubled_quotes(void **state)
{
    (void)state;
    struct seen r[16];
    size_t n = TOK("\xef\xbb\xbf"
                   "a,b,c\r\n"
                   "\"x, y\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\n"
                   "1,,3\n"
                   "\"\",plain,\"\"\"\"\n",
                   3, r);
    assert_int_equal(n, 4);
    assert_string_equal(r[0].fields, "a|b|c");
    assert_string_equal(r[0].raw, "a,b,c");
    assert_int_equal(r[1].line, 2);
    assert_string_equal(r[1].fields, "x, y|say \"hi\"|two\r\nlines");
    assert_string_equal(r[1].raw, "\"x, y\",\"say \"\"hi\"\"\",\"two\r\nlines\"");
    assert_int_equal(r[2].line, 4);
    assert_string_equal(r[2].fields, "1||3");
    assert_int_equal(r[3].line, 5);
    assert_string_equal(r[3].fields, "|plain|\"");
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r[i].err, LP_OK);
}

static void blank_lines_are_skipped_but_counted(void **state)
{
    (void)state;
    struct seen r[16];
    size_t n = TOK("h1,h2\n\n  \r\n\t\na,b\n\n", 2, r);
    assert_int_equal(n, 2);
    assert_int_equal(r[1].line, 5);
    assert_string_equal(r[1].fields, "a|b");
}

static void a_quote_inside_an_unquoted_field_is_data(void **state)
{
    (void)state;
    struct seen r[16];
    size_t n = TOK("h1,h2\nThe \"Rock\",5\"\n", 2, r);
    assert_int_equal(n, 2);
    assert_int_equal(r[1].err, LP_OK);
    assert_string_equal(r[1].fields, "The \"Rock\"|5\"");
}

static void last_row_without_newline_and_trailing_cr(void **state)
{
    (void)state;
    struct seen r[16];
    size_t n = TOK("h1,h2\r\na,b\r", 2, r);
    assert_int_equal(n, 2);
    assert_string_equal(r[1].fields, "a|b");
    assert_string_equal(r[1].raw, "a,b");
    n = TOK("h1,h2\n\"a\",\"b\"", 2, r);
    assert_int_equal(n, 2);
    assert_string_equal(r[1].fields, "a|b");
    n = TOK("h1,h2\na,", 2, r);
    assert_int_equal(n, 2);
    assert_string_equal(r[1].fields, "a|");
}

static void field_count_mismatch_is_malformed(void **state)
{
    (void)state;
    struct seen r[16];
    size_t n = TOK("a,b,c\n1,2\n1,2,3,4\n1,2,3\n", 3, r);
    assert_int_equal(n, 4);
    assert_int_equal(r[1].err, LP_E_ROW_MALFORMED);
    assert_int_equal(r[1].errcol, -1);
    assert_int_equal(r[2].err, LP_E_ROW_MALFORMED);
    assert_int_equal(r[3].err, LP_OK);
}

static void text_after_closing_quote_is_malformed(void **state)
{
    (void)state;
    struct seen r[16];
    size_t n = TOK("a,b,c\n1,\"two\"x,3\n4,5,6\n", 3, r);
    assert_int_equal(n, 3);
    assert_int_equal(r[1].err, LP_E_ROW_MALFORMED);
    assert_int_equal(r[1].errcol, 1);
    assert_string_equal(r[1].raw, "1,\"two\"x,3");
    assert_int_equal(r[2].err, LP_OK);
    assert_int_equal(r[2].line, 3);
}

static void unterminated_quote_at_eof_costs_one_row(void **state)
{
    (void)state;
    struct seen r[16];
    size_t n = TOK("a,b\n1,\"open\n2,x\n3,y\n", 2, r);
    assert_int_equal(n, 4);
    assert_int_equal(r[1].err, LP_E_ROW_MALFORMED);
    assert_int_equal(r[1].errcol, 1);
    assert_int_equal(r[1].line, 2);
    assert_string_equal(r[1].raw, "1,\"open");
    assert_int_equal(r[2].line, 3);
    assert_string_equal(r[2].fields, "2|x");
    assert_int_equal(r[3].line, 4);
    assert_int_equal(r[3].err, LP_OK);
}

static void unterminated_quote_mid_file_resumes_next_line(void **state)
{
    (void)state;
    struct seen r[16];
    /* the stray quote on line 2 would pair with the quote on line 4 */
    size_t n = TOK("a,b,c\n1,\"open,x\n2,y,z\n3,\"q\",w\n4,k,l\n", 3, r);
    assert_int_equal(n, 5);
    assert_int_equal(r[1].line, 2);
    assert_int_equal(r[1].err, LP_E_ROW_MALFORMED);
    assert_int_equal(r[1].errcol, 1);
    assert_string_equal(r[1].raw, "1,\"open,x");
    assert_int_equal(r[2].line, 3);
    assert_string_equal(r[2].fields, "2|y|z");
    assert_int_equal(r[3].line, 4);
    assert_string_equal(r[3].fields, "3|q|w");
    assert_int_equal(r[4].line, 5);
    assert_int_equal(r[4].err, LP_OK);
}

static void quoted_field_past_the_row_limit_is_unterminated(void **state)
{
    (void)state;
    struct seen r[16];
    static const char text[] = "a,b\n1,\"long\nlong\nlong\nlong\"\n2,x\n";
    size_t n = tokenize(text, sizeof(text) - 1, 2, 12, r, 16);
    /* line 2's quote runs past 12 bytes: rows 2..5 are read one by one */
    assert_int_equal(n, 6);
    assert_int_equal(r[1].line, 2);
    assert_int_equal(r[1].err, LP_E_ROW_MALFORMED);
    assert_int_equal(r[2].line, 3);
    assert_int_equal(r[3].line, 4);
    assert_int_equal(r[4].line, 5);
    assert_int_equal(r[5].line, 6);
    assert_string_equal(r[5].fields, "2|x");
}

static void unquoted_row_past_the_limit_is_too_long(void **state)
{
    (void)state;
    struct seen r[16];
    static const char text[] = "a,b\n1,xxxxxxxxxxxxxxxxxxxx\n2,y\n";
    size_t n = tokenize(text, sizeof(text) - 1, 2, 10, r, 16);
    assert_int_equal(n, 3);
    assert_int_equal(r[1].err, LP_E_ROW_TOO_LONG);
    assert_string_equal(r[1].raw, "1,xxxxxxxxxxxxxxxxxxxx");
    assert_int_equal(r[2].line, 3);
    assert_int_equal(r[2].err, LP_OK);
}

/*
 * Conservation: a long file where every kind of broken row recurs, with
 * legitimate quoted fields around them. Every line is exactly one row.
 */
static void every_line_yields_exactly_one_row(void **state)
{
    (void)state;
    enum { ROWS = 3000 };
    size_t cap = ROWS * 64, len = 0;
    char *buf = malloc(cap);
    len += (size_t)snprintf(buf + len, cap - len, "id,name,note\r\n");
    for (int i = 0; i < ROWS; i++) {
        const char *fmt;
        switch (i % 9) {
        case 2: fmt = "%d,\"unterminated,x\r\n"; break;       /* stray quote */
        case 4: fmt = "%d,\"closed\"junk,x\r\n"; break;        /* text after quote */
        case 5: fmt = "%d,too,many,fields\r\n"; break;         /* count */
        case 7: fmt = "%d,\"q\"\"uoted\",\"comma, inside\"\r\n"; break;
        default: fmt = "%d,plain,\"note\"\r\n"; break;
        }
        len += (size_t)snprintf(buf + len, cap - len, fmt, i);
    }
    lp_csv c;
    lp_csv_row row;
    lp_csv_init(&c, buf, len, 0);
    c.nexpect = 3;
    assert_int_equal(lp_csv_next(&c, &row), LP_OK); /* header */
    int64_t expect_line = 2;
    size_t rows = 0, bad = 0, want_bad = 0;
    while (lp_csv_next(&c, &row) == LP_OK) {
        assert_int_equal(row.line, expect_line);
        int i = (int)(expect_line - 2);
        bool broken = i % 9 == 2 || i % 9 == 4 || i % 9 == 5;
        if (broken != (row.err != LP_OK))
            fail_msg("line %lld: err %d", (long long)row.line, row.err);
        bad += row.err != LP_OK;
        want_bad += broken;
        expect_line++;
        rows++;
    }
    assert_int_equal(rows, ROWS);
    assert_int_equal(bad, want_bad);
    assert_true(bad > ROWS / 4);
    lp_csv_free(&c);
    free(buf);
}

static void empty_input_has_no_rows(void **state)
{
    (void)state;
    struct seen r[16];
    assert_int_equal(TOK("", 0, r), 0);
    assert_int_equal(TOK("\xef\xbb\xbf", 0, r), 0);
    assert_int_equal(TOK("\n\r\n \n", 0, r), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quoted_fields_commas_newlines_and_doubled_quotes),
        cmocka_unit_test(blank_lines_are_skipped_but_counted),
        cmocka_unit_test(a_quote_inside_an_unquoted_field_is_data),
        cmocka_unit_test(last_row_without_newline_and_trailing_cr),
        cmocka_unit_test(field_count_mismatch_is_malformed),
        cmocka_unit_test(text_after_closing_quote_is_malformed),
        cmocka_unit_test(unterminated_quote_at_eof_costs_one_row),
        cmocka_unit_test(unterminated_quote_mid_file_resumes_next_line),
        cmocka_unit_test(quoted_field_past_the_row_limit_is_unterminated),
        cmocka_unit_test(unquoted_row_past_the_limit_is_too_long),
        cmocka_unit_test(every_line_yields_exactly_one_row),
        cmocka_unit_test(empty_input_has_no_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
