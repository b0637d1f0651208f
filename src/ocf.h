/*
 * ocf.h - post-processing of Avro object container files.
 *
 * avro-c picks a container file's 16-byte sync marker from a clock-seeded
 * rand(), so two runs over the same input write different bytes. leadpipe
 * promises byte-identical replays, so after a container file is closed its
 * marker is rewritten, in the header and after every block, to a value
 * derived from a caller-chosen seed. The block structure is walked exactly
 * (count, size, data, marker); nothing is pattern-matched.
 */
#ifndef LP_OCF_H
#define LP_OCF_H

#include <stddef.h>

#include "err.h"

/* Rewrites the sync marker of the container file at path from seed. */
lp_err_t lp_ocf_set_sync(const char *path, const void *seed, size_t seedlen);

#endif
