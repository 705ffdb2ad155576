/*
 * Unit tests of the circuit breaker (src/aigw_breaker.c): every
 * transition, Retry-After, the probe and its timeout, the failure ratio and
 * its window, and threads racing on one breaker as workers do in shared
 * memory.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <cmocka.h>

#include "aigw_breaker.h"


/* 2026-11-27T00:00:00Z */
#define T0  INT64_C(1795737600000)


static aigw_breaker_conf_t
conf(int64_t failures, int64_t ratio, int64_t min_requests)
{
    aigw_breaker_conf_t  c;

    c.failures = failures;
    c.ratio = ratio;
    c.min_requests = min_requests;
    c.window = 60000;
    c.cooldown = 30000;
    c.probe_timeout = 60000;

    return c;
}


/* opens b at now with consecutive failures */

static void
trip(aigw_breaker_t *b, const aigw_breaker_conf_t *c, int64_t now)
{
    int64_t  i;

    for (i = 0; i < c->failures; i++) {
        assert_int_equal(aigw_breaker_state(b, now), AIGW_BREAKER_CLOSED);
        aigw_breaker_failure(b, c, now, 0);
    }

    assert_int_equal(aigw_breaker_state(b, now), AIGW_BREAKER_OPEN);
}


static void
test_zero_is_closed(void **state)
{
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(3, 500, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    assert_int_equal(sizeof(aigw_breaker_t), 64);
    assert_int_equal(aigw_breaker_state(&b, T0), AIGW_BREAKER_CLOSED);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0), 1);
    assert_int_equal(aigw_breaker_ready(&b, T0), 1);
    assert_int_equal(aigw_breaker_wait(&b, T0), 0);
    assert_int_equal(b.probes, 0);
}


static void
test_consecutive_failures_open(void **state)
{
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(3, 0, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    aigw_breaker_failure(&b, &c, T0, 0);
    aigw_breaker_failure(&b, &c, T0 + 1, 0);
    assert_int_equal(aigw_breaker_state(&b, T0 + 1), AIGW_BREAKER_CLOSED);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 1), 1);

    aigw_breaker_failure(&b, &c, T0 + 2, 0);
    assert_int_equal(aigw_breaker_state(&b, T0 + 2), AIGW_BREAKER_OPEN);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 2), 0);
    assert_int_equal(aigw_breaker_ready(&b, T0 + 2), 0);
    assert_int_equal(aigw_breaker_wait(&b, T0 + 2), 30000);
    assert_int_equal(aigw_breaker_wait(&b, T0 + 30001), 1);
    assert_int_equal(aigw_breaker_wait(&b, T0 + 30002), 0);
    assert_int_equal(b.trips, 1);

    /* more failures of requests already out: still one trip */

    aigw_breaker_failure(&b, &c, T0 + 3, 0);
    aigw_breaker_failure(&b, &c, T0 + 4, 0);
    assert_int_equal(b.trips, 1);
    assert_int_equal(aigw_breaker_wait(&b, T0 + 4), 29998);
}


static void
test_success_resets_consecutive(void **state)
{
    int                  i;
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(3, 0, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    for (i = 0; i < 10; i++) {
        aigw_breaker_failure(&b, &c, T0 + i, 0);
        aigw_breaker_failure(&b, &c, T0 + i, 0);
        assert_int_equal(b.failures, 2);
        aigw_breaker_success(&b, &c, T0 + i);
        assert_int_equal(b.failures, 0);
    }

    assert_int_equal(aigw_breaker_state(&b, T0 + 10), AIGW_BREAKER_CLOSED);
    assert_int_equal(b.trips, 0);
}


static void
test_cooldown_then_one_probe(void **state)
{
    int                  i, won;
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(3, 0, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    trip(&b, &c, T0);

    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 29999), 0);
    assert_int_equal(aigw_breaker_state(&b, T0 + 29999), AIGW_BREAKER_OPEN);

    /* cooled down: reported half-open, ready, not yet taken */

    assert_int_equal(aigw_breaker_state(&b, T0 + 30000),
                     AIGW_BREAKER_HALF_OPEN);
    assert_int_equal(aigw_breaker_ready(&b, T0 + 30000), 1);
    assert_int_equal(b.probes, 0);

    /* many callers at the same moment: exactly one is the probe */

    won = 0;

    for (i = 0; i < 1000; i++) {
        won += aigw_breaker_allow(&b, &c, T0 + 30000 + i % 7);
    }

    assert_int_equal(won, 1);
    assert_int_equal(b.probes, 1);
    assert_int_equal(aigw_breaker_state(&b, T0 + 30001),
                     AIGW_BREAKER_HALF_OPEN);
    assert_int_equal(aigw_breaker_ready(&b, T0 + 30001), 0);
}


static void
test_probe_success_closes(void **state)
{
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(3, 500, 4);

    (void) state;
    memset(&b, 0, sizeof(b));

    trip(&b, &c, T0);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 30000), 1);

    aigw_breaker_success(&b, &c, T0 + 31000);

    assert_int_equal(aigw_breaker_state(&b, T0 + 31000), AIGW_BREAKER_CLOSED);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 31000), 1);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 31000), 1);
    assert_int_equal(b.failures, 0);

    /* the window restarted: the 3 failures of before do not count */

    assert_int_equal(b.win_total, 0);
    assert_int_equal(b.win_failed, 0);
    assert_int_equal(b.win_start, T0 + 31000);

    aigw_breaker_failure(&b, &c, T0 + 31001, 0);
    aigw_breaker_failure(&b, &c, T0 + 31002, 0);
    assert_int_equal(aigw_breaker_state(&b, T0 + 31002), AIGW_BREAKER_CLOSED);
    aigw_breaker_failure(&b, &c, T0 + 31003, 0);
    assert_int_equal(aigw_breaker_state(&b, T0 + 31003), AIGW_BREAKER_OPEN);
    assert_int_equal(b.trips, 2);
}


static void
test_probe_failure_reopens(void **state)
{
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(3, 0, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    trip(&b, &c, T0);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 30000), 1);

    aigw_breaker_failure(&b, &c, T0 + 32000, 0);

    assert_int_equal(aigw_breaker_state(&b, T0 + 32000), AIGW_BREAKER_OPEN);
    assert_int_equal(b.trips, 2);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 61999), 0);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 62000), 1);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 62000), 0);
    assert_int_equal(b.probes, 2);
}


static void
test_success_during_cooldown_ignored(void **state)
{
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(3, 0, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    /* a request sent before it opened answers well during the cool-down */

    trip(&b, &c, T0);
    aigw_breaker_success(&b, &c, T0 + 100);
    assert_int_equal(aigw_breaker_state(&b, T0 + 100), AIGW_BREAKER_OPEN);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 100), 0);

    /* after the cool-down a good answer closes it, probe or not */

    aigw_breaker_success(&b, &c, T0 + 30000);
    assert_int_equal(aigw_breaker_state(&b, T0 + 30000), AIGW_BREAKER_CLOSED);
    assert_int_equal(b.probes, 0);
}


static void
test_failure_after_cooldown_reopens(void **state)
{
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(3, 0, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    trip(&b, &c, T0);

    aigw_breaker_failure(&b, &c, T0 + 40000, 0);
    assert_int_equal(aigw_breaker_state(&b, T0 + 40000), AIGW_BREAKER_OPEN);
    assert_int_equal(aigw_breaker_wait(&b, T0 + 40000), 30000);
    assert_int_equal(b.trips, 2);
}


static void
test_retry_after_lengthens(void **state)
{
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(1, 0, 10);

    (void) state;

    /* longer than the cool-down: open that long */

    memset(&b, 0, sizeof(b));
    aigw_breaker_failure(&b, &c, T0, 90000);
    assert_int_equal(aigw_breaker_wait(&b, T0), 90000);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 89999), 0);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 90000), 1);

    /* shorter: the cool-down */

    memset(&b, 0, sizeof(b));
    aigw_breaker_failure(&b, &c, T0, 3000);
    assert_int_equal(aigw_breaker_wait(&b, T0), 30000);

    /* negative: ignored; absurd: one hour */

    memset(&b, 0, sizeof(b));
    aigw_breaker_failure(&b, &c, T0, -5);
    assert_int_equal(aigw_breaker_wait(&b, T0), 30000);

    memset(&b, 0, sizeof(b));
    aigw_breaker_failure(&b, &c, T0, INT64_C(86400000) * 365);
    assert_int_equal(aigw_breaker_wait(&b, T0), AIGW_BREAKER_MAX_RETRY);

    /* a failed probe with Retry-After */

    memset(&b, 0, sizeof(b));
    aigw_breaker_failure(&b, &c, T0, 0);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 30000), 1);
    aigw_breaker_failure(&b, &c, T0 + 30500, 120000);
    assert_int_equal(aigw_breaker_wait(&b, T0 + 30500), 120000);
}


static void
test_retry_after_during_cooldown(void **state)
{
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(1, 0, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    aigw_breaker_failure(&b, &c, T0, 0);
    assert_int_equal(aigw_breaker_wait(&b, T0), 30000);

    /* shorter than what is left, or none: unchanged */

    aigw_breaker_failure(&b, &c, T0 + 10000, 5000);
    aigw_breaker_failure(&b, &c, T0 + 10000, 0);
    assert_int_equal(aigw_breaker_wait(&b, T0 + 10000), 20000);

    /* longer: lengthened, and not counted as a new trip */

    aigw_breaker_failure(&b, &c, T0 + 10000, 60000);
    assert_int_equal(aigw_breaker_wait(&b, T0 + 10000), 60000);
    assert_int_equal(aigw_breaker_state(&b, T0 + 69999), AIGW_BREAKER_OPEN);
    assert_int_equal(b.trips, 1);
}


static void
test_probe_timeout(void **state)
{
    int                  i, won;
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(3, 0, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    trip(&b, &c, T0);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 30000), 1);

    /* the probe never reports */

    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 89999), 0);
    assert_int_equal(aigw_breaker_state(&b, T0 + 89999),
                     AIGW_BREAKER_HALF_OPEN);
    assert_int_equal(aigw_breaker_ready(&b, T0 + 89999), 0);
    assert_int_equal(aigw_breaker_ready(&b, T0 + 90000), 1);

    won = 0;

    for (i = 0; i < 100; i++) {
        won += aigw_breaker_allow(&b, &c, T0 + 90000 + i);
    }

    assert_int_equal(won, 1);
    assert_int_equal(b.probes, 2);

    /* and the next one after another timeout */

    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 150000), 1);
    assert_int_equal(b.probes, 3);

    /* a zero timeout still gives one probe per swap */

    c.probe_timeout = 0;
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 210000), 1);
    assert_int_equal(aigw_breaker_allow(&b, &c, T0 + 210000), 0);
}


static void
test_ratio_opens(void **state)
{
    int                  i;
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(0, 500, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    /* 9 outcomes, 4 failed: too few to judge */

    for (i = 0; i < 5; i++) {
        aigw_breaker_success(&b, &c, T0 + i);
    }

    for (i = 0; i < 4; i++) {
        aigw_breaker_failure(&b, &c, T0 + 10 + i, 0);
    }

    assert_int_equal(b.win_total, 9);
    assert_int_equal(b.win_failed, 4);
    assert_int_equal(aigw_breaker_state(&b, T0 + 20), AIGW_BREAKER_CLOSED);

    /* the 10th: 5 of 10 failed, 50% */

    aigw_breaker_failure(&b, &c, T0 + 20, 0);
    assert_int_equal(aigw_breaker_state(&b, T0 + 20), AIGW_BREAKER_OPEN);
    assert_int_equal(b.trips, 1);
}


static void
test_ratio_needs_min_requests(void **state)
{
    int                  i;
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(0, 500, 20);

    (void) state;
    memset(&b, 0, sizeof(b));

    for (i = 0; i < 19; i++) {
        aigw_breaker_failure(&b, &c, T0 + i, 0);
    }

    assert_int_equal(aigw_breaker_state(&b, T0 + 19), AIGW_BREAKER_CLOSED);

    aigw_breaker_failure(&b, &c, T0 + 19, 0);
    assert_int_equal(aigw_breaker_state(&b, T0 + 19), AIGW_BREAKER_OPEN);

    /* below the ratio: 9 failed of 20 */

    memset(&b, 0, sizeof(b));

    for (i = 0; i < 11; i++) {
        aigw_breaker_success(&b, &c, T0 + i);
    }

    for (i = 0; i < 9; i++) {
        aigw_breaker_failure(&b, &c, T0 + 20 + i, 0);
    }

    assert_int_equal(b.win_total, 20);
    assert_int_equal(aigw_breaker_state(&b, T0 + 30), AIGW_BREAKER_CLOSED);
}


static void
test_window_reset(void **state)
{
    int                  i;
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(0, 500, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    /* 9 failures, then the window ends before the 10th */

    for (i = 0; i < 9; i++) {
        aigw_breaker_failure(&b, &c, T0 + i, 0);
    }

    assert_int_equal(b.win_start, T0);
    assert_int_equal(b.win_failed, 9);

    aigw_breaker_failure(&b, &c, T0 + 59999, 0);
    assert_int_equal(aigw_breaker_state(&b, T0 + 59999), AIGW_BREAKER_OPEN);

    memset(&b, 0, sizeof(b));

    for (i = 0; i < 9; i++) {
        aigw_breaker_failure(&b, &c, T0 + i, 0);
    }

    aigw_breaker_failure(&b, &c, T0 + 60000, 0);

    assert_int_equal(aigw_breaker_state(&b, T0 + 60000), AIGW_BREAKER_CLOSED);
    assert_int_equal(b.win_start, T0 + 60000);
    assert_int_equal(b.win_total, 1);
    assert_int_equal(b.win_failed, 1);

    /* successes roll the window too */

    aigw_breaker_success(&b, &c, T0 + 120000);
    assert_int_equal(b.win_start, T0 + 120000);
    assert_int_equal(b.win_total, 1);
    assert_int_equal(b.win_failed, 0);
}


static void
test_ratio_off_writes_nothing(void **state)
{
    int                  i;
    aigw_breaker_t       b, zero;
    aigw_breaker_conf_t  c = conf(3, 0, 10);

    (void) state;
    memset(&b, 0, sizeof(b));
    memset(&zero, 0, sizeof(zero));

    /* successes on a closed breaker: no store to the shared line */

    for (i = 0; i < 100; i++) {
        assert_int_equal(aigw_breaker_allow(&b, &c, T0 + i), 1);
        aigw_breaker_success(&b, &c, T0 + i);
    }

    assert_memory_equal(&b, &zero, sizeof(b));

    /* a failure is written, the next success clears it, once */

    aigw_breaker_failure(&b, &c, T0 + 100, 0);
    assert_int_equal(b.failures, 1);
    assert_int_equal(b.win_total, 0);
    aigw_breaker_success(&b, &c, T0 + 101);
    assert_memory_equal(&b, &zero, sizeof(b));
}


static void
test_both_off_never_opens(void **state)
{
    int                  i;
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(0, 0, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    for (i = 0; i < 1000; i++) {
        aigw_breaker_failure(&b, &c, T0 + i, 5000);
    }

    assert_int_equal(aigw_breaker_state(&b, T0 + 1000), AIGW_BREAKER_CLOSED);
    assert_int_equal(b.failures, 1000);
    assert_int_equal(b.trips, 0);
}


static void
test_generation_changes_word(void **state)
{
    uint64_t             w1, w2;
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c = conf(1, 0, 10);

    (void) state;
    memset(&b, 0, sizeof(b));

    /*
     * Open, probe, fail, probe, fail... at instants chosen so that each
     * open period has the same deadline as the one before: the words still
     * differ, so a caller holding an old word cannot take a second probe.
     */

    c.cooldown = 0;
    c.probe_timeout = 1;

    aigw_breaker_failure(&b, &c, T0, 0);
    w1 = b.word;
    assert_int_equal(aigw_breaker_allow(&b, &c, T0), 1);
    aigw_breaker_failure(&b, &c, T0, 0);
    w2 = b.word;

    assert_int_equal(aigw_breaker_state(&b, T0 - 1), AIGW_BREAKER_OPEN);
    assert_true(w1 != w2);
    assert_true((w1 >> 18) == (w2 >> 18));
}


/* threads: workers racing on one breaker in shared memory */

#define NTHREADS  4
#define ROUNDS    2000
#define CALLS     25


typedef struct {
    aigw_breaker_t       b;
    aigw_breaker_conf_t  c;
    int                  arrived;           /* the spin barrier */
    int                  wins[ROUNDS][2];   /* probes won per period */
    int                  winner[ROUNDS];
    int64_t              clock;
    int                  mixed_trips;
} race_t;


static race_t  race;


/*
 * A spinning barrier: the threads leave it within nanoseconds of each
 * other (a pthread barrier wakes them one by one through the kernel), so
 * their calls really collide: a check-then-store instead of the CAS in
 * aigw_breaker_allow() fails this test within a few rounds.
 */

static void
spin_barrier(int *phase)
{
    int  target, spins;

    target = ++*phase * NTHREADS;

    __atomic_add_fetch(&race.arrived, 1, __ATOMIC_ACQ_REL);

    for (spins = 0;
         __atomic_load_n(&race.arrived, __ATOMIC_ACQUIRE) < target;
         spins++)
    {
        /* with fewer CPUs than threads, let the late ones run */

        if (spins > 2000) {
            sched_yield();
        }
    }
}


static int64_t
round_time(int r)
{
    return T0 + (int64_t) r * 100;
}


static void *
probe_thread(void *arg)
{
    int      id, r, i, n, phase;
    int64_t  t;

    id = (int) (intptr_t) arg;
    phase = 0;

    for (r = 0; r < ROUNDS; r++) {
        t = round_time(r);

        /* the cool-down is over: exactly one probe among all callers */

        spin_barrier(&phase);

        for (i = 0, n = 0; i < CALLS; i++) {
            n += aigw_breaker_allow(&race.b, &race.c, t);
        }

        __atomic_add_fetch(&race.wins[r][0], n, __ATOMIC_RELAXED);

        /* the probe is out too long: exactly one new probe */

        spin_barrier(&phase);

        for (i = 0, n = 0; i < CALLS; i++) {
            n += aigw_breaker_allow(&race.b, &race.c,
                                    t + race.c.probe_timeout);
        }

        if (n) {
            race.winner[r] = id;
        }

        __atomic_add_fetch(&race.wins[r][1], n, __ATOMIC_RELAXED);

        spin_barrier(&phase);

        /*
         * The second probe reports: odd rounds fail (it reopens), even
         * rounds succeed, then every thread fails at once: one trip.
         */

        t += race.c.probe_timeout;

        if (race.winner[r] == id) {
            if (r & 1) {
                aigw_breaker_failure(&race.b, &race.c, t, 0);

            } else {
                aigw_breaker_success(&race.b, &race.c, t);
            }
        }

        spin_barrier(&phase);

        if (!(r & 1)) {
            aigw_breaker_failure(&race.b, &race.c, t, 0);
        }
    }

    return NULL;
}


static void
test_threads_one_probe_per_period(void **state)
{
    int        i, r;
    pthread_t  th[NTHREADS];

    (void) state;
    memset(&race, 0, sizeof(race));

    race.c.failures = 1;
    race.c.ratio = 0;
    race.c.min_requests = 1;
    race.c.window = 60000;
    race.c.cooldown = 10;
    race.c.probe_timeout = 5;

    aigw_breaker_failure(&race.b, &race.c, round_time(0) - 10, 0);
    assert_int_equal(aigw_breaker_state(&race.b, round_time(0) - 1),
                     AIGW_BREAKER_OPEN);

    for (i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, probe_thread,
                                        (void *) (intptr_t) i), 0);
    }

    for (i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
    }

    for (r = 0; r < ROUNDS; r++) {
        if (race.wins[r][0] != 1 || race.wins[r][1] != 1) {
            fail_msg("round %d: %d and %d probes", r, race.wins[r][0],
                     race.wins[r][1]);
        }
    }

    assert_int_equal(race.b.probes, 2 * ROUNDS);
    assert_int_equal(race.b.trips, 1 + ROUNDS);
    assert_int_equal(aigw_breaker_state(&race.b,
                                        round_time(ROUNDS - 1) + 6),
                     AIGW_BREAKER_OPEN);
}


static void *
count_thread(void *arg)
{
    int  id, i;

    id = (int) (intptr_t) arg;

    for (i = 0; i < 100000; i++) {
        if (id & 1) {
            aigw_breaker_failure(&race.b, &race.c, T0 + i, 0);

        } else {
            (void) aigw_breaker_allow(&race.b, &race.c, T0 + i);
            aigw_breaker_failure(&race.b, &race.c, T0 + i, 0);
            aigw_breaker_success(&race.b, &race.c, T0 + i);
        }
    }

    return NULL;
}


static void
test_threads_counters(void **state)
{
    int        i;
    pthread_t  th[NTHREADS];

    (void) state;

    /* nothing opens it: every outcome is in the one window */

    memset(&race, 0, sizeof(race));

    race.c = conf(0, 1000, INT64_C(1) << 40);
    race.c.window = INT64_C(1) << 40;
    race.b.win_start = T0;

    for (i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, count_thread,
                                        (void *) (intptr_t) i), 0);
    }

    for (i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
    }

    assert_int_equal(race.b.win_total, 6 * 100000);
    assert_int_equal(race.b.win_failed, 4 * 100000);
    assert_int_equal(race.b.trips, 0);
    assert_int_equal(race.b.probes, 0);
    assert_int_equal(aigw_breaker_state(&race.b, T0), AIGW_BREAKER_CLOSED);
}


static void *
fail_thread(void *arg)
{
    int  i;

    (void) arg;

    for (i = 0; i < 100000; i++) {
        aigw_breaker_failure(&race.b, &race.c, T0, 0);
    }

    return NULL;
}


static void
test_threads_consecutive_exact(void **state)
{
    int        i;
    pthread_t  th[NTHREADS];

    (void) state;

    /* the 400000th failure opens it, whichever thread records it */

    memset(&race, 0, sizeof(race));

    race.c = conf(NTHREADS * 100000, 0, 1);

    for (i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, fail_thread, NULL), 0);
    }

    for (i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
    }

    assert_int_equal(race.b.failures, NTHREADS * 100000);
    assert_int_equal(race.b.trips, 1);
    assert_int_equal(aigw_breaker_state(&race.b, T0), AIGW_BREAKER_OPEN);
}


static void *
chaos_thread(void *arg)
{
    int       i, op;
    int64_t   now;
    uint32_t  seed;

    seed = (uint32_t) (intptr_t) arg * 2654435761u + 1;

    for (i = 0; i < 100000; i++) {
        now = __atomic_add_fetch(&race.clock, 1, __ATOMIC_RELAXED);

        seed = seed * 1103515245u + 12345u;
        op = (seed >> 16) % 8;

        if (aigw_breaker_allow(&race.b, &race.c, now)) {
            if (op < 3) {
                aigw_breaker_failure(&race.b, &race.c, now,
                                     op == 0 ? 20 : 0);

            } else {
                aigw_breaker_success(&race.b, &race.c, now);
            }

        } else if (op == 7) {
            /* a straggler of before the opening */
            aigw_breaker_failure(&race.b, &race.c, now, 0);
        }
    }

    return NULL;
}


static void
test_threads_chaos(void **state)
{
    int        i;
    pthread_t  th[NTHREADS];

    (void) state;

    /*
     * Random outcomes on a moving clock.  With a probe that never times
     * out, leaving half-open needs the probe's own report, so each open
     * period gives at most one probe: probes <= trips, even with many
     * trips and probes.
     */

    memset(&race, 0, sizeof(race));

    race.c = conf(3, 500, 20);
    race.c.window = 1000;
    race.c.cooldown = 50;
    race.c.probe_timeout = INT64_C(1) << 40;
    race.clock = T0;

    for (i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, chaos_thread,
                                        (void *) (intptr_t) i), 0);
    }

    for (i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
    }

    assert_true(race.b.trips > 100);
    assert_true(race.b.probes > 100);
    assert_true(race.b.probes <= race.b.trips);

    /* and it still works: whatever its state, a success after a wait */

    (void) aigw_breaker_allow(&race.b, &race.c, race.clock + 100);
    aigw_breaker_success(&race.b, &race.c, race.clock + 100);
    assert_int_equal(aigw_breaker_state(&race.b, race.clock + 100),
                     AIGW_BREAKER_CLOSED);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_zero_is_closed),
        cmocka_unit_test(test_consecutive_failures_open),
        cmocka_unit_test(test_success_resets_consecutive),
        cmocka_unit_test(test_cooldown_then_one_probe),
        cmocka_unit_test(test_probe_success_closes),
        cmocka_unit_test(test_probe_failure_reopens),
        cmocka_unit_test(test_success_during_cooldown_ignored),
        cmocka_unit_test(test_failure_after_cooldown_reopens),
        cmocka_unit_test(test_retry_after_lengthens),
        cmocka_unit_test(test_retry_after_during_cooldown),
        cmocka_unit_test(test_probe_timeout),
        cmocka_unit_test(test_ratio_opens),
        cmocka_unit_test(test_ratio_needs_min_requests),
        cmocka_unit_test(test_window_reset),
        cmocka_unit_test(test_ratio_off_writes_nothing),
        cmocka_unit_test(test_both_off_never_opens),
        cmocka_unit_test(test_generation_changes_word),
        cmocka_unit_test(test_threads_one_probe_per_period),
        cmocka_unit_test(test_threads_counters),
        cmocka_unit_test(test_threads_consecutive_exact),
        cmocka_unit_test(test_threads_chaos),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
