/* Unit tests for svc/daemon.h: which endpoints count as local, the only ones
 * dev mode (no authentication) allows. */
#include "../../svc/daemon.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <czmq.h>

Test(daemon, loopback_ipc_and_inproc_endpoints_are_local)
{
    const char *local[] = {"tcp://127.0.0.1:5555", "tcp://127.9.8.7:1", "tcp://localhost:5555",
                           "tcp://[::1]:5555",     "tcp://lo:5555",     "ipc:///tmp/rp.sock",
                           "inproc://x",           "@tcp://127.0.0.1:5", ">tcp://localhost:6"};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        cr_assert(daemon_endpoint_is_local(local[i]), "%s is local", local[i]);
}

Test(daemon, wildcards_other_hosts_and_look_alikes_are_not_local)
{
    const char *remote[] = {"tcp://*:5555",          "tcp://0.0.0.0:5555",
                            "tcp://10.0.0.7:5555",   "tcp://128.0.0.1:5555",
                            "tcp://127.0.0.1.evil.example:5555",
                            "tcp://localhost.example:5555", "tcp://[::]:5555",
                            "tcp://[::1.example]:5", "tcp://eth0:5555",
                            "tcp://state:5559",      "tcp://127.0.0.256:5",
                            "udp://127.0.0.1:5",     "tcp://127.0.0.1",
                            "pgm://127.0.0.1:5"};
    for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++)
        cr_assert_not(daemon_endpoint_is_local(remote[i]), "%s is not local", remote[i]);
}

Test(daemon, a_prefix_overrides_the_default_direction)
{
    zsys_handler_set(NULL);
    /* both default to connect; '@' makes the first bind, so they can meet */
    zsock_t *a = daemon_socket(ZMQ_PAIR, "@inproc://daemon-prefix", DAEMON_CONNECT, NULL, "a");
    cr_assert_not_null(a, "'@' binds");
    zsock_t *b = daemon_socket(ZMQ_PAIR, "inproc://daemon-prefix", DAEMON_CONNECT, NULL, "b");
    cr_assert_not_null(b);
    cr_assert_eq(zstr_send(b, "hi"), 0);
    char *got = zstr_recv(a);
    cr_assert_str_eq(got, "hi");
    zstr_free(&got);
    zsock_destroy(&b);
    /* '>' makes a bind-by-default socket connect: a bind to the endpoint a
     * already holds would fail, a connect succeeds and reaches a */
    zsock_t *c = daemon_socket(ZMQ_PAIR, ">inproc://daemon-prefix", DAEMON_BIND, NULL, "c");
    cr_assert_not_null(c, "'>' connects");
    zsock_destroy(&c);
    zsock_t *d = daemon_socket(ZMQ_PAIR, "inproc://daemon-prefix", DAEMON_BIND, NULL, "d");
    cr_assert_null(d, "without the prefix it binds, and the endpoint is taken");
    zsock_destroy(&a);
}

Test(daemon, a_remote_endpoint_is_refused_in_dev_mode)
{
    zsys_handler_set(NULL);
    zsock_t *s = daemon_socket(ZMQ_PULL, "tcp://0.0.0.0:0", DAEMON_BIND, NULL, "x");
    cr_assert_null(s, "binding every interface without --insecure is refused");
}
