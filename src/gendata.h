/*
 * gendata.h - the reference tables behind the synthetic lead generator.
 *
 * Names by culture (in their own script and in an ASCII form for email
 * addresses), countries with their regions, cities, phone formats and mail
 * providers, departments with their titles per seniority, industries,
 * technologies and campaigns. The generator (leadgen.c) draws from them;
 * the export writer (export.c) uses them to write values the way each CRM
 * writes them (country names, technology labels, industry picklists).
 *
 * Everything here is immutable static data: any thread may read it. Weights
 * are relative integers. Tables end with a NULL name (or a zero weight for
 * lp_gendata_mix lists).
 */
#ifndef LP_GENDATA_H
#define LP_GENDATA_H

#include <stddef.h>
#include <stdint.h>

#include "lead.h"

/* One given or family name. slug is the ASCII form used in email addresses
 * and LinkedIn URLs (NULL: the Latin form folded to lower case, letters and
 * digits only); native is the name in its own script (NULL: Latin only). */
typedef struct lp_gendata_name {
    const char *latin;
    const char *native;
    const char *slug;
} lp_gendata_name;

typedef struct lp_gendata_culture {
    const char *id;
    const lp_gendata_name *first; /* ends with a NULL latin */
    const lp_gendata_name *last;  /* ends with a NULL latin */
} lp_gendata_culture;

/* A weighted cultural group of a country's people. */
typedef struct lp_gendata_mix {
    uint8_t culture;    /* index into lp_gendata_cultures */
    uint8_t native_pct; /* share written in the native script here */
    uint16_t weight;    /* 0 ends the list */
} lp_gendata_mix;

typedef struct lp_gendata_region {
    const char *name; /* NULL ends the list */
    uint16_t weight;
    const char *const *cities; /* NULL-terminated; repeats weight a city */
} lp_gendata_region;

typedef struct lp_gendata_country {
    const char *code;          /* ISO 3166-1 alpha-2; NULL ends the table */
    const char *name;          /* English name, as CRM exports write it */
    uint16_t weight;           /* roughly per ten thousand leads */
    const char *tld;           /* company domain suffix, e.g. ".de" */
    const char *const *legal;  /* legal-form suffixes, NULL-terminated */
    const char *const *phones; /* phone templates: N any digit, X 2-9 */
    const char *const *mail;   /* national free-mail providers */
    const lp_gendata_mix *cultures;
    const lp_gendata_region *regions;
} lp_gendata_country;

/* Seniority levels, in the order of lp_gendata_seniority_names. */
typedef enum lp_gendata_level {
    LP_GL_FOUNDER = 0,
    LP_GL_C_SUITE,
    LP_GL_VP,
    LP_GL_HEAD,
    LP_GL_DIRECTOR,
    LP_GL_MANAGER,
    LP_GL_SENIOR,
    LP_GL_ENTRY,
    LP_GL_COUNT
} lp_gendata_level;

typedef struct lp_gendata_department {
    const char *name; /* Apollo's department label; NULL ends the table */
    uint16_t weight;
    /* titles per level as "|"-separated variants; NULL: no such level */
    const char *titles[LP_GL_COUNT];
} lp_gendata_department;

typedef struct lp_gendata_industry {
    const char *name;       /* Apollo (LinkedIn) industry, lower case */
    const char *salesforce; /* Salesforce Industry picklist value */
    uint16_t weight;
    uint16_t rev_per_emp_k;   /* typical revenue per employee, USD 1000s */
    const char *const *nouns; /* words for company names */
} lp_gendata_industry;

typedef struct lp_gendata_tech {
    const char *slug;  /* canonical value; NULL ends the table */
    const char *label; /* as Apollo's Technologies column writes it */
    uint16_t weight;
} lp_gendata_tech;

typedef struct lp_gendata_campaign {
    const char *name;       /* NULL ends the table */
    const char *source;     /* the lead's source field */
    const char *utm_source; /* NULL: no UTM parameters */
    const char *utm_medium;
    const char *utm_campaign;
    uint16_t weight;
} lp_gendata_campaign;

extern const lp_gendata_culture lp_gendata_cultures[];
extern const lp_gendata_country lp_gendata_countries[];
extern const char *const lp_gendata_seniority_names[LP_GL_COUNT];
extern const uint16_t lp_gendata_seniority_weights[LP_GL_COUNT];
extern const lp_gendata_department lp_gendata_departments[];
extern const lp_gendata_industry lp_gendata_industries[];
extern const lp_gendata_tech lp_gendata_techs[];
extern const lp_gendata_campaign lp_gendata_campaigns[];
extern const char *const lp_gendata_free_mail[];      /* global providers */
extern const uint16_t lp_gendata_free_mail_weights[]; /* same order */
extern const char *const lp_gendata_name_heads[];     /* company name words */
extern const char *const lp_gendata_name_tails[];
extern const char *const lp_gendata_products[];     /* custom attribute */
extern const char *const lp_gendata_trial_states[]; /* custom attribute */
extern const char *const lp_gendata_owners[];       /* sales reps */

/* The number of entries before the terminating NULL of a string table. */
size_t lp_gendata_count(const char *const *table);

/* The country with this alpha-2 code, or NULL. */
const lp_gendata_country *lp_gendata_country_find(lp_str code);

/* The technology with this slug, or NULL. */
const lp_gendata_tech *lp_gendata_tech_find(lp_str slug);

/* The industry with this (Apollo) name, or NULL. */
const lp_gendata_industry *lp_gendata_industry_find(lp_str name);

#endif
