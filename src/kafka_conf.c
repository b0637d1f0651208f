/*
 * kafka_conf.c - the `kafka:` section; see kafka_conf.h.
 */
#include "kafka_conf.h"

#include <string.h>

typedef struct kafka_section {
    lp_kafka_conf c;
    struct fy_node *client, *consumer, *producer;
} kafka_section;

static const char *const wire_names[] = {"avro", "confluent", NULL};

const lp_conf_prop lp_kafka_props[] = {
    {"brokers", LP_CONF_STR, offsetof(kafka_section, c.brokers), "127.0.0.1:9092",
     "bootstrap.servers; `--brokers` and `--embedded` override it.", NULL, false},
    {"group", LP_CONF_STR, offsetof(kafka_section, c.group), NULL,
     "Consumer group id; default `leadpipe-<pipeline name>`. Instances in one group share the "
     "partitions.",
     NULL, false},
    {"wire_format", LP_CONF_ENUM, offsetof(kafka_section, c.wire_format), "avro",
     "Records on the wire: plain Avro binary, or the Confluent format (magic byte and schema "
     "id, resolved against `schema_registry`).",
     wire_names, false},
    {"schema_registry", LP_CONF_STR, offsetof(kafka_section, c.schema_registry), NULL,
     "Schema Registry URL, needed by wire_format confluent.", NULL, false},
    {"max_inflight", LP_CONF_INT, offsetof(kafka_section, c.max_inflight), "20000",
     "Records per partition consumed but not yet acknowledged; beyond it the partition is "
     "paused (backpressure).",
     NULL, false},
    {"commit_interval", LP_CONF_DURATION, offsetof(kafka_section, c.commit_interval_ms), "250ms",
     "How often each worker commits its partitions' watermarks; bounds the work redone after "
     "a rebalance whose commit the broker refuses.",
     NULL, false},
    {"drain_timeout", LP_CONF_DURATION, offsetof(kafka_section, c.drain_timeout_ms), "30s",
     "On revoke or shutdown, how long to wait for in-flight outputs before leaving them "
     "uncommitted (they are then redelivered, never lost).",
     NULL, false},
    {"client", LP_CONF_NODE, offsetof(kafka_section, client), NULL,
     "librdkafka properties for both clients (security.protocol, sasl.*, ssl.*, ...).", NULL,
     false},
    {"consumer", LP_CONF_NODE, offsetof(kafka_section, consumer), NULL,
     "librdkafka properties for the consumers only.", NULL, false},
    {"producer", LP_CONF_NODE, offsetof(kafka_section, producer), NULL,
     "librdkafka properties for the producer only (linger.ms, compression.type, ...).", NULL,
     false},
    {NULL},
};

const char *const lp_kafka_section_doc =
    "How `leadpipe run` talks to Kafka. Property maps are passed to librdkafka as they are, "
    "after leadpipe's own defaults; librdkafka rejects unknown names at startup.";

/* Reads a mapping of librdkafka properties into an arena array. */
static lp_kafka_prop *load_props(lp_diag *d, lp_arena *mem, struct fy_node *n, size_t *count)
{
    *count = 0;
    if (!n)
        return NULL;
    if (!fy_node_is_mapping(n)) {
        lp_diag_node(d, n, "expected a mapping of librdkafka properties");
        return NULL;
    }
    lp_kafka_prop *props =
        lp_arena_alloc(mem, (size_t)fy_node_mapping_item_count(n) * sizeof(*props));
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it))) {
        char *name = NULL, *value = NULL;
        if (lp_conf_str(d, mem, fy_node_pair_key(pair), &name) &&
            lp_conf_str(d, mem, fy_node_pair_value(pair), &value))
            props[(*count)++] = (lp_kafka_prop){name, value};
    }
    return props;
}

int lp_kafka_conf_load(lp_diag *d, lp_arena *mem, struct fy_node *n, lp_kafka_conf *c)
{
    kafka_section ks;
    memset(&ks, 0, sizeof(ks));
    int before = d->errors;
    lp_conf_apply(d, mem, n, lp_kafka_props, &ks);
    *c = ks.c;
    c->client = load_props(d, mem, ks.client, &c->nclient);
    c->consumer = load_props(d, mem, ks.consumer, &c->nconsumer);
    c->producer = load_props(d, mem, ks.producer, &c->nproducer);
    if (c->max_inflight <= 0)
        lp_diag_node(d, lp_conf_get(n, "max_inflight"), "max_inflight must be positive");
    if (c->wire_format == 1 && !c->schema_registry)
        lp_diag_node(d, lp_conf_get(n, "wire_format"),
                     "wire_format confluent needs schema_registry");
    return d->errors - before;
}
