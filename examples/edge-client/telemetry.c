/* edge-client: telemetry sources (see telemetry.h). */
#include "telemetry.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "enroll.h"
#include "log.h"

enum kind { SIMULATED, FILE_LINES, EXEC_LINES };

struct edge_tsrc {
    enum kind kind;
    FILE *file;      /* file: */
    int fd;          /* exec: read end of the command's stdout */
    pid_t pid;       /* exec: the command */
    char buf[65536]; /* exec: bytes read, not yet a whole line */
    size_t len;
    int eof;
    char spec[512];
};

static pid_t spawn(const char *cmd, int *fd)
{
    int p[2];
    pid_t pid;
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    if ((pid = fork()) == 0) {
        dup2(p[1], STDOUT_FILENO);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return -1;
    }
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    *fd = p[0];
    return pid;
}

edge_tsrc *edge_tsrc_open(const char *spec)
{
    edge_tsrc *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->fd = -1;
    snprintf(s->spec, sizeof(s->spec), "%s", spec ? spec : "simulated");
    if (spec == NULL || strcmp(spec, "simulated") == 0) {
        s->kind = SIMULATED;
    } else if (strncmp(spec, "file:", 5) == 0) {
        s->kind = FILE_LINES;
        if ((s->file = fopen(spec + 5, "r")) == NULL) {
            edge_error("telemetry file %s: %s; fix 'telemetry = file:PATH'", spec + 5,
                       strerror(errno));
            free(s);
            return NULL;
        }
    } else if (strncmp(spec, "exec:", 5) == 0) {
        s->kind = EXEC_LINES;
        if ((s->pid = spawn(spec + 5, &s->fd)) < 0) {
            edge_error("telemetry command '%s' cannot start: %s", spec + 5, strerror(errno));
            free(s);
            return NULL;
        }
    } else {
        edge_error("telemetry = '%s' unknown; use simulated, file:PATH or exec:CMD", spec);
        free(s);
        return NULL;
    }
    return s;
}

void edge_tsrc_close(edge_tsrc *s)
{
    if (s == NULL)
        return;
    if (s->file)
        fclose(s->file);
    if (s->fd >= 0)
        close(s->fd);
    if (s->pid > 0) {
        kill(s->pid, SIGTERM); /* our own child, by PID */
        waitpid(s->pid, NULL, 0);
    }
    free(s);
}

/* A line -> params text, or NULL (logged) if it is not a JSON object. */
static char *params_of(const char *line, const char *spec)
{
    json_error_t err;
    json_t *j = json_loads(line, 0, &err), *mp, *p;
    char *txt;
    if (!json_is_object(j)) {
        edge_warn("telemetry %s: skipped a line that is not a JSON object (%s)", spec,
                  j ? "not an object" : err.text);
        json_decref(j);
        return NULL;
    }
    mp = json_object_get(j, "measurepoints");
    if (json_is_object(mp)) {
        p = j; /* a whole params object */
        if (!json_is_integer(json_object_get(p, "time")))
            json_object_set_new(p, "time", json_integer(edge_now_ms()));
    } else {
        p = json_pack("{s:o, s:I}", "measurepoints", j, "time", (json_int_t)edge_now_ms());
    }
    txt = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    return txt;
}

/* One whole line from the command's pipe, or NULL for none yet. */
static char *exec_line(edge_tsrc *s)
{
    char *nl;
    ssize_t n;
    while ((nl = memchr(s->buf, '\n', s->len)) == NULL && !s->eof) {
        if (s->len == sizeof(s->buf) - 1) {
            edge_warn("telemetry %s: a line longer than %zu bytes was dropped", s->spec, s->len);
            s->len = 0;
        }
        n = read(s->fd, s->buf + s->len, sizeof(s->buf) - 1 - s->len);
        if (n > 0)
            s->len += (size_t)n;
        else if (n == 0)
            s->eof = 1;
        else
            return NULL; /* EAGAIN: nothing now */
    }
    if (nl == NULL && s->len == 0)
        return NULL;
    if (nl == NULL)
        nl = s->buf + s->len; /* last line without a newline */
    size_t ll = (size_t)(nl - s->buf);
    char *line = strndup(s->buf, ll);
    size_t rest = s->len > ll ? s->len - ll - 1 : 0;
    memmove(s->buf, s->buf + s->len - rest, rest);
    s->len = rest;
    return line;
}

int edge_tsrc_read(edge_tsrc *s, long long n, char **params)
{
    char *line = NULL;
    size_t cap = 0;

    *params = NULL;
    if (s->kind == SIMULATED) {
        json_t *p =
            json_pack("{s:{s:f, s:I}, s:I}", "measurepoints", "temp", 20.0 + (double)n * 0.5, "seq",
                      (json_int_t)n, "time", (json_int_t)edge_now_ms());
        *params = json_dumps(p, JSON_COMPACT);
        json_decref(p);
        return *params ? EDGE_TSRC_READING : EDGE_TSRC_NONE;
    }
    for (;;) {
        if (s->kind == FILE_LINES) {
            if (getline(&line, &cap, s->file) < 0) {
                free(line);
                return EDGE_TSRC_END;
            }
        } else if ((line = exec_line(s)) == NULL) {
            return s->eof && s->len == 0 ? EDGE_TSRC_END : EDGE_TSRC_NONE;
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] != '\0' && (*params = params_of(line, s->spec)) != NULL) {
            free(line);
            return EDGE_TSRC_READING;
        }
        free(line);
        line = NULL;
        cap = 0;
    }
}
