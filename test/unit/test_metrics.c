/*
 * Unit tests of the metrics module (secsrv/core/metrics.c): histogram
 * buckets (bounds inclusive, +Inf last, cumulative when written), the text
 * exposition format with escaped label values, the exchange counters per
 * label set, the waits counted only for forwarded exchanges, and the cap
 * on label sets that keeps a client making up identifiers from growing
 * them without end.
 */
#include "metrics.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *take(struct ss_text *t)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(ss_text_take(t, &out, &len), SS_OK);
    return out;
}

static void test_histogram(void **state)
{
    (void)state;
    struct ss_hist h = {0};
    ss_hist_observe(&h, &ss_hist_sizes, 1);
    ss_hist_observe(&h, &ss_hist_sizes, 3);
    ss_hist_observe(&h, &ss_hist_sizes, 4);
    ss_hist_observe(&h, &ss_hist_sizes, 1000);
    assert_int_equal(h.count, 4);
    assert_int_equal(h.bucket[0], 1); /* le 1 */
    assert_int_equal(h.bucket[2], 2); /* le 4: 3 and 4 */
    assert_int_equal(h.bucket[ss_hist_sizes.n], 1);
    struct ss_text t = {0};
    const char *labels[] = {"k", "a\"b\\c\nd"};
    ss_prom_hist(&t, "x", labels, 1, &ss_hist_sizes, &h);
    char *out = take(&t);
    assert_non_null(strstr(out, "x_bucket{k=\"a\\\"b\\\\c\\nd\",le=\"1\"} 1\n"));
    assert_non_null(strstr(out, "x_bucket{k=\"a\\\"b\\\\c\\nd\",le=\"4\"} 3\n"));
    assert_non_null(strstr(out, "x_bucket{k=\"a\\\"b\\\\c\\nd\",le=\"512\"} 3\n"));
    assert_non_null(strstr(out, "x_bucket{k=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(out, "x_sum{k=\"a\\\"b\\\\c\\nd\"} 1008\n"));
    assert_non_null(strstr(out, "x_count{k=\"a\\\"b\\\\c\\nd\"} 4\n"));
    free(out);
}

static void test_exchanges(void **state)
{
    (void)state;
    struct ss_metrics *m = ss_metrics_new();
    assert_non_null(m);
    ss_metrics_exchange(m, SS_METRICS_OUTBOUND, "C", "S", "ok", 0.010, true, 0.004);
    ss_metrics_exchange(m, SS_METRICS_OUTBOUND, "C", "S", "ok", 0.020, true, 0.008);
    ss_metrics_exchange(m, SS_METRICS_INBOUND, "C", "S", "Server.ServerProxy.AccessDenied", 0.001,
                        false, 0);
    struct ss_text t = {0};
    ss_metrics_render(m, &t);
    char *out = take(&t);
    assert_non_null(strstr(out, "# TYPE secsrv_exchanges_total counter\n"));
    assert_non_null(strstr(out, "secsrv_exchanges_total{direction=\"outbound\",client=\"C\","
                                "service=\"S\",outcome=\"ok\"} 2\n"));
    assert_non_null(strstr(out, "secsrv_exchanges_total{direction=\"inbound\",client=\"C\","
                                "service=\"S\",outcome=\"Server.ServerProxy.AccessDenied\"} 1\n"));
    assert_non_null(strstr(out, "secsrv_exchange_seconds_count{direction=\"outbound\"} 2\n"));
    assert_non_null(strstr(out, "secsrv_exchange_seconds_sum{direction=\"outbound\"} 0.03\n"));
    assert_non_null(
        strstr(out, "secsrv_exchange_secsrv_seconds_sum{direction=\"outbound\"} 0.018\n"));
    assert_non_null(strstr(out, "secsrv_exchange_peer_seconds_count 2\n"));
    /* the refusal never reached the register service */
    assert_non_null(strstr(out, "secsrv_exchange_backend_seconds_count 0\n"));
    assert_non_null(strstr(out, "secsrv_exchange_seconds_count{direction=\"inbound\"} 1\n"));
    free(out);
    ss_metrics_free(m);
}

static void test_series_cap(void **state)
{
    (void)state;
    struct ss_metrics *m = ss_metrics_new();
    char client[32];
    for (int i = 0; i < SS_METRICS_MAX_SERIES + 100; i++) {
        snprintf(client, sizeof client, "made-up-%d", i);
        ss_metrics_exchange(m, SS_METRICS_OUTBOUND, client, "S", "Client.UnknownClient", 0.001,
                            false, 0);
    }
    struct ss_text t = {0};
    ss_metrics_render(m, &t);
    char *out = take(&t);
    size_t lines = 0;
    for (const char *p = out; (p = strstr(p, "\nsecsrv_exchanges_total{")); p++)
        lines++;
    assert_int_equal(lines, SS_METRICS_MAX_SERIES + 1);
    assert_non_null(strstr(out, "client=\"other\",service=\"other\",outcome=\"other\"} 100\n"));
    free(out);
    ss_metrics_free(m);
}

/* An outcome a peer chose (its X-Road-Error) is not written as it came. */
static void test_outcome_from_a_peer(void **state)
{
    (void)state;
    struct ss_metrics *m = ss_metrics_new();
    ss_metrics_exchange(m, SS_METRICS_OUTBOUND, "C", "S", "Bad\"Type\xff", 0.001, true, 0.001);
    ss_metrics_exchange(m, SS_METRICS_OUTBOUND, "C", "S", "", 0.001, true, 0.001);
    struct ss_text t = {0};
    ss_metrics_render(m, &t);
    char *out = take(&t);
    assert_non_null(strstr(out, "outcome=\"invalid\"} 2\n"));
    assert_null(strstr(out, "Bad"));
    free(out);
    ss_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_exchanges),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_outcome_from_a_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
