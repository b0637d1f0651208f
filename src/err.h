/*
 * err.h - leadpipe's one error enum.
 *
 * Every fallible function returns an lp_err_t. Record-level codes (the ones
 * that appear in rejected records) and process-level codes share the enum so
 * that a rejected record, a log line and an exit status speak the same names.
 *
 * Numbers are stable: a retired code keeps its number and is never reused.
 * New codes are appended at the end of their range.
 */
#ifndef LP_ERR_H
#define LP_ERR_H

/* X(name, number, stage-independent description) */
#define LP_ERR_LIST(X)                                                                             \
    X(LP_OK, 0, "success")                                                                         \
    /* process-level: 1..99 */                                                                     \
    X(LP_E_NOMEM, 1, "out of memory")                                                              \
    X(LP_E_IO, 2, "input/output error")                                                            \
    X(LP_E_USAGE, 3, "invalid command-line usage")                                                 \
    X(LP_E_CONFIG, 4, "invalid configuration")                                                     \
    X(LP_E_INTERNAL, 5, "internal error")                                                          \
    X(LP_E_KAFKA, 6, "kafka error")                                                                \
    X(LP_E_CACHE, 7, "enrichment cache error")                                                     \
    X(LP_E_HTTP, 8, "http error")                                                                  \
    X(LP_E_EOF, 9, "end of input")                                                                 \
    X(LP_E_PARK, 10, "record parked on slow i/o")                                                  \
    /* record-level: 100.. (these appear in rejected records) */                                   \
    X(LP_E_ROW_MALFORMED, 100, "malformed row")                                                    \
    X(LP_E_ENCODING, 101, "text is not valid UTF-8")                                               \
    X(LP_E_FIELD_TOO_LONG, 102, "field longer than the configured limit")                          \
    X(LP_E_ROW_TOO_LONG, 103, "row longer than the configured limit")                              \
    X(LP_E_JSON_INVALID, 104, "invalid JSON")                                                      \
    X(LP_E_AVRO_DECODE, 105, "record does not decode as Avro")                                     \
    X(LP_E_SCHEMA_UNKNOWN, 106, "unknown schema id")                                               \
    X(LP_E_NUMBER_INVALID, 107, "value is not a number")                                           \
    X(LP_E_TIMESTAMP_INVALID, 108, "value is not a timestamp")                                     \
    X(LP_E_BOOL_INVALID, 109, "value is not a boolean")                                            \
    X(LP_E_REQUIRED_MISSING, 110, "required field is missing")                                     \
    X(LP_E_EMAIL_MISSING, 111, "email is missing")                                                 \
    X(LP_E_EMAIL_INVALID, 112, "email is not a valid address")                                     \
    X(LP_E_DOMAIN_INVALID, 113, "domain is not valid")                                             \
    X(LP_E_URL_INVALID, 114, "url is not valid")                                                   \
    X(LP_E_PHONE_INVALID, 115, "phone number is not valid")                                        \
    X(LP_E_FIELD_TYPE, 116, "field has the wrong type")                                            \
    X(LP_E_OPTED_OUT, 117, "lead opted out of contact")

typedef enum lp_err {
#define LP_ERR_ENUM(name, num, desc) name = num,
    LP_ERR_LIST(LP_ERR_ENUM)
#undef LP_ERR_ENUM
} lp_err_t;

/* The stable name of a code, e.g. "LP_E_EMAIL_INVALID". Never NULL. */
const char *lp_err_name(lp_err_t err);

/* A short human description of a code. Never NULL. */
const char *lp_err_str(lp_err_t err);

/* Looks a code up by its stable name; returns -1 when unknown. */
int lp_err_from_name(const char *name);

/* Process exit status for an error: 0 ok, 2 usage/config, 1 otherwise. */
int lp_err_exit_code(lp_err_t err);

#endif
