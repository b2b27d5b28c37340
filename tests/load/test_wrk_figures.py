"""bench.harness.wrk_figures: what the order-path benchmark reads from wrk's report."""

from bench.harness import wrk_figures

# A --latency report in the layout of Debian's wrk 4.1 (the figures are made up).
REPORT = """Running 8s test @ http://127.0.0.1:40000
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    14.95ms    5.01ms  61.30ms   80.12%
    Req/Sec     1.08k   101.42     1.31k    70.00%
  Latency Distribution
     50%  697.00us
     75%   16.89ms
     90%   20.14ms
     99%    1.20s
  20000 requests in 8.10s, 6.81MB read
{refused}
Requests/sec:   2469.14
Transfer/sec:    861.05KB
"""


def test_every_answer_2xx_counts_whole() -> None:
    figures = wrk_figures(REPORT.replace("{refused}", ""))
    assert figures["rps"] == 2469.14
    assert figures["requests"] == 20000
    assert figures["non2xx"] == 0
    assert abs(figures["p50"] - 0.697) < 1e-9  # microseconds, in ms
    assert figures["p99"] == 1200.0


def test_refusals_do_not_count_as_throughput() -> None:
    """A 429 is answered faster than an order is placed: a run with refusals must not look
    faster than it placed orders."""
    figures = wrk_figures(REPORT.replace("{refused}", "  Non-2xx or 3xx responses: 5000"))
    assert figures["non2xx"] == 5000
    assert figures["requests"] == 15000
    assert abs(figures["rps"] - 2469.14 * 0.75) < 1e-9
