/*
 * err.c - names and descriptions for lp_err_t.
 */
#include "err.h"

#include <string.h>

struct lp_err_info {
    lp_err_t code;
    const char *name;
    const char *desc;
};

static const struct lp_err_info lp_err_table[] = {
#define LP_ERR_ROW(name, num, desc) {name, #name, desc},
    LP_ERR_LIST(LP_ERR_ROW)
#undef LP_ERR_ROW
};

static const struct lp_err_info *lp_err_find(lp_err_t err)
{
    for (size_t i = 0; i < sizeof(lp_err_table) / sizeof(lp_err_table[0]); i++)
        if (lp_err_table[i].code == err)
            return &lp_err_table[i];
    return NULL;
}

const char *lp_err_name(lp_err_t err)
{
    const struct lp_err_info *e = lp_err_find(err);
    return e ? e->name : "LP_E_UNKNOWN";
}

const char *lp_err_str(lp_err_t err)
{
    const struct lp_err_info *e = lp_err_find(err);
    return e ? e->desc : "unknown error";
}

int lp_err_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(lp_err_table) / sizeof(lp_err_table[0]); i++)
        if (strcmp(lp_err_table[i].name, name) == 0)
            return (int)lp_err_table[i].code;
    return -1;
}

int lp_err_exit_code(lp_err_t err)
{
    if (err == LP_OK)
        return 0;
    if (err == LP_E_USAGE || err == LP_E_CONFIG)
        return 2;
    return 1;
}
