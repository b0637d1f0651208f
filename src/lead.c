/*
 * lead.c - the field table behind lead.h.
 */
#include "lead.h"

#include <string.h>

const lp_field_def lp_fields[LP_F_COUNT] = {
#define LP_FIELD_ROW(id, name, type, flags) {LP_F_##id, name, type, flags, sizeof(name) - 1},
    LP_FIELD_LIST(LP_FIELD_ROW)
#undef LP_FIELD_ROW
};

int lp_field_lookup(const char *name, size_t len)
{
    for (int i = 0; i < LP_F_COUNT; i++)
        if (lp_fields[i].name_len == len && memcmp(lp_fields[i].name, name, len) == 0)
            return i;
    return -1;
}

const char *lp_type_name(lp_type t)
{
    switch (t) {
    case LP_T_STR: return "string";
    case LP_T_LONG: return "integer";
    case LP_T_DOUBLE: return "number";
    case LP_T_BOOL: return "boolean";
    case LP_T_TS: return "timestamp";
    case LP_T_LIST: return "list";
    }
    return "unknown";
}
