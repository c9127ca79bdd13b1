/*
 * ttydports-exec: what `docker exec -it` does, through the Engine API on a Unix socket, in a few hundred KiB.
 *
 *   ttydports-exec --socket /var/run/docker.sock [--user U] [--workdir W] [-e NAME=VALUE]... CONTAINER -- CMD [ARG...]
 *
 * The engine creates the process (POST /containers/{id}/exec, then POST /exec/{id}/start with the stream hijacked),
 * exactly as for the docker CLI: same cgroup, namespaces, user, capabilities, seccomp and AppArmor profile. This
 * program only relays bytes between its own terminal (raw mode, restored on exit) and the engine's stream, forwards
 * the terminal's size (at start and on SIGWINCH), and exits with the exec's exit code when the stream ends. SIGHUP,
 * SIGTERM and SIGINT end it at once, whatever it is doing, even while it waits on a frozen engine; what the exec left in
 * the container is ended by its caller (TtydPorts, by its marker).
 *
 * Exit codes: the exec's own; 2 for a bad argument; 125 when the engine cannot be reached or refuses the exec; 128+N
 * when signal N ended it.
 * No dependencies beyond libc; never runs a shell. Build: cc -O2 -Wall -Wextra -Werror -o ttydports-exec ttydports-exec.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_ENGINE 125
#define MAX_RESPONSE (1 << 20)

static const char *socket_path;
/* API 1.41: Docker 20.10 speaks up to it, later engines and Podman's service accept it. An engine that refuses it as too
   old (Docker 29 wants 1.44 or later) gets unversioned paths, which mean its own current version. */
static const char *api = "/v1.41";
static struct termios saved_termios;
static volatile sig_atomic_t termios_saved, got_winch;

static void restore_terminal(void)
{
    if (termios_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
        termios_saved = 0;
    }
}

static void fail(int code, const char *format, ...)
{
    va_list args;
    restore_terminal();
    fputs("ttydports-exec: ", stderr);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    exit(code);
}

/* ---- growable buffer ---- */

struct buf {
    char *data;
    size_t len, cap;
};

static void buf_add(struct buf *b, const char *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            fail(EXIT_ENGINE, "out of memory");
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_fmt(struct buf *b, const char *format, ...)
{
    char tmp[512];
    va_list args;
    va_start(args, format);
    int n = vsnprintf(tmp, sizeof tmp, format, args);
    va_end(args);
    if (n < 0 || (size_t)n >= sizeof tmp)
        fail(EXIT_ENGINE, "internal error: formatted text too long");
    buf_add(b, tmp, (size_t)n);
}

/* A JSON string: quotes, backslashes and control characters escaped; UTF-8 (validated before) passes unchanged. */
static void buf_json(struct buf *b, const char *s)
{
    buf_str(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': buf_str(b, "\\\""); break;
        case '\\': buf_str(b, "\\\\"); break;
        case '\b': buf_str(b, "\\b"); break;
        case '\f': buf_str(b, "\\f"); break;
        case '\n': buf_str(b, "\\n"); break;
        case '\r': buf_str(b, "\\r"); break;
        case '\t': buf_str(b, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                buf_fmt(b, "\\u%04x", *p);
            else
                buf_add(b, (const char *)p, 1);
        }
    }
    buf_str(b, "\"");
}

/* ---- argument checks ---- */

static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p, n;
        unsigned long cp;
        if (c < 0x80) { p++; continue; }
        else if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; }
        else return 0;
        for (unsigned i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* overlong forms, UTF-16 surrogates and values past U+10FFFF are not UTF-8 */
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n + 1;
    }
    return 1;
}

static int has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

static int is_alnum(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

/* A container id or name as the engine knows it: [A-Za-z0-9][A-Za-z0-9_.-]*, so that it goes into a URL as is. */
static int valid_container(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || !is_alnum((unsigned char)s[0]))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (!is_alnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return 0;
    return 1;
}

static int valid_env(const char *s)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
        return 0;
    for (const char *p = s; p < eq; p++)
        if (!is_alnum((unsigned char)*p) && *p != '_')
            return 0;
    return 1;
}

/* ---- HTTP over the Unix socket ---- */

static int engine_connect(void)
{
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    memcpy(address.sun_path, socket_path, strlen(socket_path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail(EXIT_ENGINE, "socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0)
        fail(EXIT_ENGINE, "cannot connect to the engine at unix://%s: %s", socket_path, strerror(errno));
    return fd;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void send_request(int fd, const char *method, const char *path, const char *body, int upgrade)
{
    struct buf request = { 0 };
    buf_fmt(&request, "%s %s HTTP/1.1\r\nHost: engine\r\nUser-Agent: ttydports-exec\r\n", method, path);
    buf_str(&request, upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "Connection: close\r\n");
    if (body) {
        buf_fmt(&request, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", strlen(body));
        buf_str(&request, body);
    } else {
        buf_str(&request, "Content-Length: 0\r\n\r\n");
    }
    if (write_all(fd, request.data, request.len) != 0)
        fail(EXIT_ENGINE, "writing to the engine at unix://%s: %s", socket_path, strerror(errno));
    free(request.data);
}

/* Reads until the end of the response headers; returns the status, the headers in *head, and any bytes after them in *rest. */
static int read_head(int fd, struct buf *head, struct buf *rest)
{
    char chunk[4096];
    for (;;) {
        char *end = head->data ? strstr(head->data, "\r\n\r\n") : NULL;
        if (end) {
            size_t used = (size_t)(end - head->data) + 4;
            buf_add(rest, head->data + used, head->len - used);
            head->len = used;
            head->data[used] = '\0';
            break;
        }
        if (head->len > 64 * 1024)
            fail(EXIT_ENGINE, "the engine's response headers are too long");
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail(EXIT_ENGINE, "the engine at unix://%s closed the connection before answering", socket_path);
        /* headers never hold a NUL; a NUL would only cut the search short, never run past the buffer */
        buf_add(head, chunk, (size_t)n);
    }
    int status = 0;
    if (sscanf(head->data, "HTTP/1.%*d %d", &status) != 1)
        fail(EXIT_ENGINE, "the engine answered something that is not HTTP");
    return status;
}

static int header_has(const char *head, const char *name, const char *value)
{
    size_t nl = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, value, strlen(value)) == 0)
                return 1;
        }
    }
    return 0;
}

/* One request on its own connection (Connection: close); the body, de-chunked, in *body. Returns the status. */
static int call(const char *method, const char *path, const char *json, struct buf *body)
{
    int fd = engine_connect();
    send_request(fd, method, path, json, 0);
    struct buf head = { 0 }, raw = { 0 };
    int status = read_head(fd, &head, &raw);
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (raw.len > MAX_RESPONSE)
            fail(EXIT_ENGINE, "the engine's answer to %s %s is too long", method, path);
        buf_add(&raw, chunk, (size_t)n);
    }
    close(fd);
    body->len = 0;
    if (header_has(head.data, "Transfer-Encoding", "chunked")) {
        size_t at = 0;
        for (;;) {
            char *end;
            unsigned long size = strtoul(raw.data ? raw.data + at : "0", &end, 16);
            char *line_end = raw.data ? strstr(raw.data + at, "\r\n") : NULL;
            if (!line_end || size == 0 || (size_t)(line_end + 2 - raw.data) + size > raw.len)
                break;
            at = (size_t)(line_end + 2 - raw.data);
            buf_add(body, raw.data + at, size);
            at += size + 2;
            if (at >= raw.len)
                break;
        }
    } else if (raw.len) {
        buf_add(body, raw.data, raw.len);
    }
    if (!body->data)
        buf_str(body, "");
    free(head.data);
    free(raw.data);
    return status;
}

/* ---- just enough JSON to read the engine's answers ---- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *skip_string(const char *p) /* p at the opening quote; returns past the closing one */
{
    for (p++; *p && *p != '"'; p++)
        if (*p == '\\' && p[1])
            p++;
    return *p ? p + 1 : p;
}

/* The value of the top-level member "key" of the object in text, or NULL. */
static const char *json_member(const char *text, const char *key)
{
    size_t kl = strlen(key);
    int depth = 0;
    for (const char *p = text; *p;) {
        if (*p == '"') {
            const char *end = skip_string(p);
            const char *after = skip_ws(end);
            if (depth == 1 && *after == ':' && (size_t)(end - p) == kl + 2 && strncmp(p + 1, key, kl) == 0)
                return skip_ws(after + 1);
            p = end;
        } else {
            if (*p == '{' || *p == '[')
                depth++;
            else if (*p == '}' || *p == ']')
                depth--;
            p++;
        }
    }
    return NULL;
}

/* A string value, unescaped enough for ids and messages (\uXXXX below U+0080 kept, others as '?'). */
static void json_string(const char *value, char *out, size_t size)
{
    size_t n = 0;
    if (!value || *value != '"') {
        out[0] = '\0';
        return;
    }
    for (const char *p = value + 1; *p && *p != '"' && n + 1 < size; p++) {
        char c = *p;
        if (c == '\\' && p[1]) {
            p++;
            switch (*p) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned cp = 0;
                if (sscanf(p + 1, "%4x", &cp) == 1 && strlen(p + 1) >= 4)
                    p += 4;
                c = cp < 0x80 ? (char)cp : '?';
                break;
            }
            default: c = *p;
            }
        }
        out[n++] = c;
    }
    out[n] = '\0';
}

static void fail_engine(const char *what, int status, const struct buf *body)
{
    char message[1024];
    json_string(json_member(body->data, "message"), message, sizeof message);
    fail(EXIT_ENGINE, "%s: the engine at unix://%s answered %d: %s", what, socket_path, status, message[0] ? message : body->data);
}

/* ---- the terminal ---- */

static void on_winch(int sig)
{
    (void)sig;
    got_winch = 1;
}

/* SIGHUP, SIGTERM, SIGINT: ttyd (or whoever) ends us. They stay unblocked and end the program in the handler itself, so
   that no call can outlast them: every read, write, connect and pause on the engine (which may be frozen), as on the
   terminal. A flag checked after the call would wait for the call. tcsetattr and _exit are async-signal-safe. */
static void on_quit(int sig)
{
    if (termios_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
    _exit(128 + sig);
}

static int terminal_size(unsigned short *rows, unsigned short *cols)
{
    struct winsize size;
    for (int fd = STDIN_FILENO; fd <= STDOUT_FILENO; fd++)
        if (ioctl(fd, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0) {
            *rows = size.ws_row;
            *cols = size.ws_col;
            return 1;
        }
    return 0;
}

/* Tells the engine our terminal's size; false when the engine refused (before the process runs, say). */
static int resize(const char *exec_id)
{
    unsigned short rows, cols;
    if (!terminal_size(&rows, &cols))
        return 1;
    char path[256];
    snprintf(path, sizeof path, "%s/exec/%s/resize?h=%u&w=%u", api, exec_id, rows, cols);
    struct buf body = { 0 };
    int status = call("POST", path, NULL, &body);
    free(body.data);
    return status >= 200 && status < 300;
}

static void usage(void)
{
    fputs("usage: ttydports-exec --socket /path/engine.sock [--user U] [--workdir /dir] [-e NAME=VALUE]... CONTAINER -- CMD [ARG...]\n", stderr);
    exit(EXIT_USAGE);
}

int main(int argc, char **argv)
{
    const char *user = NULL, *workdir = NULL, *container = NULL;
    const char **env = calloc((size_t)argc, sizeof *env);
    int envc = 0, i = 1;
    if (!env)
        fail(EXIT_ENGINE, "out of memory");

    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (container)
            fail(EXIT_USAGE, "unexpected argument '%s' after the container '%s': the command follows '--'", a, container);
        if (strcmp(a, "--socket") == 0 || strcmp(a, "--user") == 0 || strcmp(a, "--workdir") == 0 || strcmp(a, "-e") == 0) {
            if (i + 1 >= argc)
                fail(EXIT_USAGE, "option %s needs a value", a);
            const char *v = argv[++i];
            if (!valid_utf8(v))
                fail(EXIT_USAGE, "the value of %s is not valid UTF-8", a);
            if (strcmp(a, "--socket") == 0) {
                if (v[0] != '/' || strlen(v) >= sizeof((struct sockaddr_un *)0)->sun_path || has_control(v))
                    fail(EXIT_USAGE, "--socket '%s' must be an absolute path shorter than %zu bytes", v, sizeof((struct sockaddr_un *)0)->sun_path);
                socket_path = v;
            } else if (strcmp(a, "--user") == 0) {
                if (!v[0] || has_control(v))
                    fail(EXIT_USAGE, "--user '%s' must be a non-empty user[:group] without control characters", v);
                user = v;
            } else if (strcmp(a, "--workdir") == 0) {
                if (v[0] != '/')
                    fail(EXIT_USAGE, "--workdir '%s' must be an absolute path", v);
                workdir = v;
            } else {
                if (!valid_env(v))
                    fail(EXIT_USAGE, "-e '%s' must be NAME=VALUE with NAME of [A-Za-z_][A-Za-z0-9_]*", v);
                env[envc++] = v;
            }
        } else if (a[0] == '-') {
            fail(EXIT_USAGE, "unknown option '%s'", a);
        } else {
            if (!valid_container(a))
                fail(EXIT_USAGE, "container '%s' must be an id or name of [A-Za-z0-9][A-Za-z0-9_.-]*", a);
            container = a;
        }
    }
    if (argc < 2)
        usage();
    if (!socket_path)
        fail(EXIT_USAGE, "--socket is required (the engine's Unix socket, e.g. /var/run/docker.sock)");
    if (!container)
        fail(EXIT_USAGE, "no container given (CONTAINER -- CMD [ARG...])");
    if (i >= argc || i + 1 >= argc)
        fail(EXIT_USAGE, "no command given: CONTAINER -- CMD [ARG...]");
    for (int k = i + 1; k < argc; k++)
        if (!valid_utf8(argv[k]))
            fail(EXIT_USAGE, "command argument %d is not valid UTF-8", k - i);
    if (!argv[i + 1][0])
        fail(EXIT_USAGE, "the command (first argument after '--') is empty");

    /* the signals that end us, from here on (unblocked, should our parent have blocked them) */
    struct sigaction quit = { .sa_handler = on_quit };
    sigemptyset(&quit.sa_mask);
    sigset_t quitting;
    sigemptyset(&quitting);
    sigaddset(&quitting, SIGHUP);
    sigaddset(&quitting, SIGTERM);
    sigaddset(&quitting, SIGINT);
    sigaction(SIGHUP, &quit, NULL);
    sigaction(SIGTERM, &quit, NULL);
    sigaction(SIGINT, &quit, NULL);
    sigprocmask(SIG_UNBLOCK, &quitting, NULL);

    /* 1. the exec, as docker exec -it creates it */
    struct buf json = { 0 }, body = { 0 };
    buf_str(&json, "{\"AttachStdin\":true,\"AttachStdout\":true,\"AttachStderr\":true,\"Tty\":true,\"Cmd\":[");
    for (int k = i + 1; k < argc; k++) {
        if (k > i + 1)
            buf_str(&json, ",");
        buf_json(&json, argv[k]);
    }
    buf_str(&json, "]");
    if (envc) {
        buf_str(&json, ",\"Env\":[");
        for (int k = 0; k < envc; k++) {
            if (k)
                buf_str(&json, ",");
            buf_json(&json, env[k]);
        }
        buf_str(&json, "]");
    }
    if (user) {
        buf_str(&json, ",\"User\":");
        buf_json(&json, user);
    }
    if (workdir) {
        buf_str(&json, ",\"WorkingDir\":");
        buf_json(&json, workdir);
    }
    buf_str(&json, "}");

    char path[512], exec_id[129];
    snprintf(path, sizeof path, "%s/containers/%s/exec", api, container);
    int status = call("POST", path, json.data, &body);
    if (status == 400 && strstr(body.data, "too old")) {
        api = "";
        snprintf(path, sizeof path, "/containers/%s/exec", container);
        status = call("POST", path, json.data, &body);
    }
    if (status != 201 && status != 200)
        fail_engine("creating the exec", status, &body);
    json_string(json_member(body.data, "Id"), exec_id, sizeof exec_id);
    if (!exec_id[0] || !valid_container(exec_id))
        fail(EXIT_ENGINE, "the engine's answer to the exec carries no usable Id: %s", body.data);

    /* 2. our terminal in raw mode, as docker's; SIGWINCH (a resize) is taken only while the relay waits in ppoll */
    signal(SIGPIPE, SIG_IGN);
    struct sigaction winch = { .sa_handler = on_winch };
    sigemptyset(&winch.sa_mask);
    sigaction(SIGWINCH, &winch, NULL);
    sigset_t blocked, unblocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGWINCH);
    sigprocmask(SIG_BLOCK, &blocked, &unblocked);
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_termios) == 0) {
        struct termios raw = saved_termios;
        cfmakeraw(&raw);
        termios_saved = 1;
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        atexit(restore_terminal);
    }

    /* 3. start it with the stream hijacked: after the 101 (or 200) headers, raw bytes both ways */
    int fd = engine_connect();
    snprintf(path, sizeof path, "%s/exec/%s/start", api, exec_id);
    send_request(fd, "POST", path, "{\"Detach\":false,\"Tty\":true}", 1);
    struct buf head = { 0 }, rest = { 0 };
    status = read_head(fd, &head, &rest);
    if (status != 101 && status != 200) {
        close(fd);
        body.len = 0;
        buf_add(&body, rest.data ? rest.data : "", rest.len);
        fail_engine("starting the exec", status, &body);
    }
    if (rest.len && write_all(STDOUT_FILENO, rest.data, rest.len) != 0)
        return 0;

    /* As docker does, a resize the engine refuses (the process may not run yet) is tried again, up to 10 times with a
       growing pause; unlike a blocking retry, the relay goes on meanwhile, so the prompt never waits for it. */
    int resize_failures = resize(exec_id) ? 0 : 1;

    /* 4. relay until the stream ends */
    char data[16384];
    struct pollfd fds[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
    for (;;) {
        if (got_winch) {
            got_winch = 0;
            resize_failures = resize(exec_id) ? 0 : 1;
        }
        struct timespec retry = { 0, 10 * 1000 * 1000L * resize_failures };
        int ready = ppoll(fds, 2, resize_failures ? &retry : NULL, &unblocked);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            fail(EXIT_ENGINE, "poll: %s", strerror(errno));
        }
        if (ready == 0) {
            resize_failures = resize(exec_id) || resize_failures >= 10 ? 0 : resize_failures + 1;
            continue;
        }
        if (fds[1].revents) {
            ssize_t n = read(fd, data, sizeof data);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            if (write_all(STDOUT_FILENO, data, (size_t)n) != 0)
                return 0; /* nobody reads our terminal any more */
        }
        if (fds[0].revents) {
            ssize_t n = read(STDIN_FILENO, data, sizeof data);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                /* end of input: tell the engine, keep reading what the process still writes */
                shutdown(fd, SHUT_WR);
                fds[0].fd = -1;
            } else if (write_all(fd, data, (size_t)n) != 0) {
                break;
            }
        }
    }
    close(fd);
    restore_terminal();

    /* 5. the exec's exit code, as docker exec reports it (Podman may take a moment to record it) */
    snprintf(path, sizeof path, "%s/exec/%s/json", api, exec_id);
    for (int attempt = 0; attempt < 50; attempt++) {
        status = call("GET", path, NULL, &body);
        if (status != 200)
            fail_engine("reading the exec's exit code", status, &body);
        const char *running = json_member(body.data, "Running");
        const char *code = json_member(body.data, "ExitCode");
        if (!(running && strncmp(running, "true", 4) == 0) && code && *code >= '0' && *code <= '9')
            return atoi(code) & 0xff;
        struct timespec pause = { 0, 20 * 1000 * 1000L };
        nanosleep(&pause, NULL);
    }
    fail(EXIT_ENGINE, "the engine did not report the exec's exit code");
}
