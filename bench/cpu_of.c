/* cpu_of: run a command and append the CPU it used (user + system, of the
 * command and of whatever it waited for, from wait4's rusage: microsecond
 * resolution, unlike /usr/bin/time's 10 ms) to a file, in milliseconds.
 *
 *   cpu_of FILE COMMAND [ARGS...]
 *
 * stdin/stdout/stderr are the command's; the exit status is the command's
 * (128 + signal if it was killed). Used by run-all.sh for the client CPU of
 * one `openssl s_client` process (issue 10: <= 1.3 x a software key's). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cpu_of FILE COMMAND [ARGS...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("cpu_of: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror("cpu_of: exec");
        _exit(127);
    }
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0) {
        perror("cpu_of: wait4");
        return 2;
    }
    double ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    FILE *f = fopen(argv[1], "a");
    if (!f || fprintf(f, "%.3f\n", ms) < 0 || fclose(f)) {
        perror("cpu_of: result file");
        return 2;
    }
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}
