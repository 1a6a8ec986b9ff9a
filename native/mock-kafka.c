/*
 * mock-kafka: librdkafka's mock Kafka cluster as a standalone process.
 *
 * Usage: mock-kafka [--brokers N] [--group-initial-rebalance-delay-ms MS]
 *                   [--first-broker-id 0|1]
 *
 * On start it prints one line on stdout:
 *
 *     ready <bootstrap servers, comma separated, in broker id order>
 *
 * Broker ids are 0..N-1 by default. librdkafka's mock numbers its brokers
 * 1..N but reports controller id 0 in Metadata, so clients that talk to the
 * controller (KafkaJS's idempotent producer sends InitProducerId there) fail
 * with "broker 0 not found". The helper therefore adds broker 0 and removes
 * broker N before anything connects. --first-broker-id 1 keeps librdkafka's
 * own numbering (and its dangling controller id).
 *
 * then reads one command per line on stdin and answers exactly one line per
 * command on stdout: "ok", "ok <value>" or "err <message>". Commands:
 *
 *     ping                                  -> ok
 *     bootstrap                             -> ok <bootstrap servers>
 *     topic <name> <partitions> <replication_factor>
 *     down <broker_id>                      broker stops accepting/serving
 *     up <broker_id>
 *     rtt <broker_id> <ms>                  added round-trip latency
 *     errors <api_key> <err> [<err> ...]    next requests of that API fail
 *     clear-errors <api_key>
 *     topic-error <name> <err>              error on the topic in Metadata
 *     leader <topic> <partition> <broker_id|-1>
 *     coordinator <group|transaction> <key> <broker_id>
 *     rebalance-delay <ms>                  group initial rebalance delay
 *     quit                                  -> ok, then exits
 *
 * The process exits cleanly (status 0) when stdin reaches end of file, so it
 * dies with the process that spawned it.
 *
 * ApiVersions advertises LeaveGroup v0-v2 only (see api_caps): the mock's
 * handler does not parse v3+, which KafkaJS would otherwise send.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_LINE 4096
#define MAX_TOKENS 256

static rd_kafka_mock_cluster_t *mcluster;
static char bootstraps[8192];

static int parse_long(const char *s, long min, long max, long *out) {
        char *end;
        long v;
        if (!s || !*s)
                return 0;
        errno = 0;
        v     = strtol(s, &end, 10);
        if (errno || *end || v < min || v > max)
                return 0;
        *out = v;
        return 1;
}

static void reply_err(const char *fmt, const char *arg) {
        fputs("err ", stdout);
        fprintf(stdout, fmt, arg);
        fputc('\n', stdout);
}

static void reply_resp(rd_kafka_resp_err_t err) {
        if (err)
                fprintf(stdout, "err %s (%d)\n", rd_kafka_err2str(err),
                        (int)err);
        else
                fputs("ok\n", stdout);
}

/* Runs one command; returns 0 to go on, 1 to quit. */
static int run(char **tok, int n) {
        const char *cmd = tok[0];
        long a, b, c;

        if (!strcmp(cmd, "ping")) {
                fputs("ok\n", stdout);
        } else if (!strcmp(cmd, "quit")) {
                fputs("ok\n", stdout);
                return 1;
        } else if (!strcmp(cmd, "bootstrap")) {
                fprintf(stdout, "ok %s\n", bootstraps);
        } else if (!strcmp(cmd, "topic")) {
                if (n != 4 || !parse_long(tok[2], 1, 100000, &a) ||
                    !parse_long(tok[3], 1, 1000, &b))
                        reply_err("%s", "usage: topic <name> <partitions> "
                                        "<replication_factor>");
                else
                        reply_resp(rd_kafka_mock_topic_create(
                            mcluster, tok[1], (int)a, (int)b));
        } else if (!strcmp(cmd, "down") || !strcmp(cmd, "up")) {
                if (n != 2 || !parse_long(tok[1], INT_MIN, INT_MAX, &a))
                        reply_err("usage: %s <broker_id>", cmd);
                else if (!strcmp(cmd, "down"))
                        reply_resp(
                            rd_kafka_mock_broker_set_down(mcluster, (int32_t)a));
                else
                        reply_resp(
                            rd_kafka_mock_broker_set_up(mcluster, (int32_t)a));
        } else if (!strcmp(cmd, "rtt")) {
                if (n != 3 || !parse_long(tok[1], INT_MIN, INT_MAX, &a) ||
                    !parse_long(tok[2], 0, INT_MAX, &b))
                        reply_err("%s", "usage: rtt <broker_id> <ms>");
                else
                        reply_resp(rd_kafka_mock_broker_set_rtt(
                            mcluster, (int32_t)a, (int)b));
        } else if (!strcmp(cmd, "errors")) {
                rd_kafka_resp_err_t errs[MAX_TOKENS];
                int i, ok = n >= 3 && parse_long(tok[1], 0, 32767, &a);
                for (i = 2; ok && i < n; i++) {
                        ok = parse_long(tok[i], -32768, 32767, &b);
                        errs[i - 2] = (rd_kafka_resp_err_t)b;
                }
                if (!ok)
                        reply_err("%s", "usage: errors <api_key> <error_code>"
                                        " [<error_code> ...]");
                else {
                        rd_kafka_mock_push_request_errors_array(
                            mcluster, (int16_t)a, (size_t)(n - 2), errs);
                        fputs("ok\n", stdout);
                }
        } else if (!strcmp(cmd, "clear-errors")) {
                if (n != 2 || !parse_long(tok[1], 0, 32767, &a))
                        reply_err("%s", "usage: clear-errors <api_key>");
                else {
                        rd_kafka_mock_clear_request_errors(mcluster,
                                                           (int16_t)a);
                        fputs("ok\n", stdout);
                }
        } else if (!strcmp(cmd, "topic-error")) {
                if (n != 3 || !parse_long(tok[2], -32768, 32767, &a))
                        reply_err("%s", "usage: topic-error <name> <error_code>");
                else {
                        rd_kafka_mock_topic_set_error(mcluster, tok[1],
                                                      (rd_kafka_resp_err_t)a);
                        fputs("ok\n", stdout);
                }
        } else if (!strcmp(cmd, "leader")) {
                if (n != 4 || !parse_long(tok[2], 0, INT_MAX, &a) ||
                    !parse_long(tok[3], -1, INT_MAX, &b))
                        reply_err("%s", "usage: leader <topic> <partition> "
                                        "<broker_id|-1>");
                else
                        reply_resp(rd_kafka_mock_partition_set_leader(
                            mcluster, tok[1], (int32_t)a, (int32_t)b));
        } else if (!strcmp(cmd, "coordinator")) {
                if (n != 4 ||
                    (strcmp(tok[1], "group") &&
                     strcmp(tok[1], "transaction")) ||
                    !parse_long(tok[3], INT_MIN, INT_MAX, &c))
                        reply_err("%s", "usage: coordinator "
                                        "<group|transaction> <key> "
                                        "<broker_id>");
                else
                        reply_resp(rd_kafka_mock_coordinator_set(
                            mcluster, tok[1], tok[2], (int32_t)c));
        } else if (!strcmp(cmd, "rebalance-delay")) {
                if (n != 2 || !parse_long(tok[1], 0, INT_MAX, &a))
                        reply_err("%s", "usage: rebalance-delay <ms>");
                else {
                        rd_kafka_mock_group_initial_rebalance_delay_ms(
                            mcluster, (int32_t)a);
                        fputs("ok\n", stdout);
                }
        } else {
                reply_err("unknown command: %s", cmd);
        }
        return 0;
}

/* APIs whose versions the mock advertises beyond what its handlers parse:
 * { ApiKey, MinVersion, MaxVersion } to advertise instead. LeaveGroup v3
 * replaced MemberId with a Members array (KIP-345) and v4 is its flexible
 * form; librdkafka 2.12's handler reads only the v0-v2 layout, so a v3
 * request (KafkaJS 2 sends v3) was read as an empty member id, answered
 * UNKNOWN_MEMBER_ID without the v3 Members array, and the member stayed in
 * its group until its session timed out. librdkafka itself sends v0-v1.
 * Every other API the handlers table advertises parses its advertised
 * versions (checked against rdkafka_mock_handlers.c of librdkafka 2.12). */
static const int16_t api_caps[][3] = {
    {13 /* LeaveGroup */, 0, 2},
};

/* Applies api_caps; returns NULL on success, else why it failed. */
static const char *cap_api_versions(void) {
        static char why[256];
        size_t i;
        for (i = 0; i < sizeof(api_caps) / sizeof(api_caps[0]); i++) {
                rd_kafka_resp_err_t err = rd_kafka_mock_set_apiversion(
                    mcluster, api_caps[i][0], api_caps[i][1], api_caps[i][2]);
                if (err) {
                        snprintf(why, sizeof(why),
                                 "capping ApiKey %d to v%d-v%d: %s",
                                 (int)api_caps[i][0], (int)api_caps[i][1],
                                 (int)api_caps[i][2], rd_kafka_err2str(err));
                        return why;
                }
        }
        return NULL;
}

static int cmp_broker(const void *a, const void *b) {
        const rd_kafka_metadata_broker_t *x = a, *y = b;
        return x->id < y->id ? -1 : x->id > y->id;
}

/* Adds broker 0 (the id the mock reports as controller) and removes broker
 * n, so the ids are 0..n-1; rewrites `bootstraps` from a Metadata request.
 * Returns NULL on success, else why it failed. */
static const char *renumber_from_zero(int32_t n) {
        static char why[512];
        char errstr[512];
        rd_kafka_conf_t *conf;
        rd_kafka_t *probe;
        const rd_kafka_metadata_t *md;
        rd_kafka_resp_err_t err;
        size_t of = 0;
        int i;

        if ((err = rd_kafka_mock_broker_add(mcluster, 0))) {
                snprintf(why, sizeof(why), "adding broker 0: %s",
                         rd_kafka_err2str(err));
                return why;
        }
        /* Learn broker 0's address from the cluster itself. */
        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr,
                              sizeof(errstr)) ||
            rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) ||
            !(probe = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr,
                                   sizeof(errstr)))) {
                snprintf(why, sizeof(why), "metadata client: %s", errstr);
                return why;
        }
        err = rd_kafka_metadata(probe, 0, NULL, &md, 10000);
        if (err) {
                rd_kafka_destroy(probe);
                snprintf(why, sizeof(why), "metadata: %s", rd_kafka_err2str(err));
                return why;
        }
        qsort(md->brokers, (size_t)md->broker_cnt, sizeof(*md->brokers),
              cmp_broker);
        bootstraps[0] = '\0';
        for (i = 0; i < md->broker_cnt && of < sizeof(bootstraps); i++) {
                if (md->brokers[i].id == n)
                        continue;
                of += (size_t)snprintf(bootstraps + of, sizeof(bootstraps) - of,
                                       "%s%s:%d", of ? "," : "",
                                       md->brokers[i].host, md->brokers[i].port);
        }
        rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(probe);
        if ((err = rd_kafka_mock_broker_decommission(mcluster, n))) {
                snprintf(why, sizeof(why), "removing broker %d: %s", (int)n,
                         rd_kafka_err2str(err));
                return why;
        }
        return NULL;
}

int main(int argc, char **argv) {
        long brokers = 3, rebalance_delay = -1, first_id = 0;
        char errstr[512], line[MAX_LINE];
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        int i, quit = 0;

        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--brokers") && i + 1 < argc &&
                    parse_long(argv[i + 1], 1, 1000, &brokers))
                        i++;
                else if (!strcmp(argv[i], "--group-initial-rebalance-delay-ms") &&
                         i + 1 < argc &&
                         parse_long(argv[i + 1], 0, INT_MAX, &rebalance_delay))
                        i++;
                else if (!strcmp(argv[i], "--first-broker-id") && i + 1 < argc &&
                         parse_long(argv[i + 1], 0, 1, &first_id))
                        i++;
                else {
                        fprintf(stderr,
                                "usage: %s [--brokers N] "
                                "[--group-initial-rebalance-delay-ms MS] "
                                "[--first-broker-id 0|1]\n",
                                argv[0]);
                        return 2;
                }
        }

        /* Replies go to a pipe: flush each line as it is written. */
        setvbuf(stdout, NULL, _IOLBF, 0);

        conf = rd_kafka_conf_new();
        /* Quiet by default; the mock's own log lines go to stderr. */
        if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)))
                fprintf(stderr, "mock-kafka: %s\n", errstr);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stdout, "err rd_kafka_new: %s\n", errstr);
                return 1;
        }
        mcluster = rd_kafka_mock_cluster_new(rk, (int)brokers);
        if (!mcluster) {
                fputs("err rd_kafka_mock_cluster_new failed\n", stdout);
                rd_kafka_destroy(rk);
                return 1;
        }
        if (rebalance_delay >= 0)
                rd_kafka_mock_group_initial_rebalance_delay_ms(
                    mcluster, (int32_t)rebalance_delay);
        {
                const char *why = cap_api_versions();
                if (why) {
                        fprintf(stdout, "err %s\n", why);
                        rd_kafka_mock_cluster_destroy(mcluster);
                        rd_kafka_destroy(rk);
                        return 1;
                }
        }

        snprintf(bootstraps, sizeof(bootstraps), "%s",
                 rd_kafka_mock_cluster_bootstraps(mcluster));
        if (first_id == 0) {
                const char *why = renumber_from_zero((int32_t)brokers);
                if (why) {
                        fprintf(stdout, "err %s\n", why);
                        rd_kafka_mock_cluster_destroy(mcluster);
                        rd_kafka_destroy(rk);
                        return 1;
                }
        }

        fprintf(stdout, "ready %s\n", bootstraps);

        while (!quit && fgets(line, sizeof(line), stdin)) {
                char *tok[MAX_TOKENS], *save = NULL, *t;
                int n   = 0;
                size_t len = strlen(line);

                if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
                        int ch; /* Too long: skip the rest of the line. */
                        while ((ch = getchar()) != EOF && ch != '\n')
                                ;
                        fputs("err line too long\n", stdout);
                        continue;
                }
                for (t = strtok_r(line, " \t\r\n", &save); t && n < MAX_TOKENS;
                     t = strtok_r(NULL, " \t\r\n", &save))
                        tok[n++] = t;
                if (n == 0) {
                        fputs("err empty command\n", stdout);
                        continue;
                }
                if (t) {
                        fputs("err too many arguments\n", stdout);
                        continue;
                }
                quit = run(tok, n);
        }

        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        return 0;
}
