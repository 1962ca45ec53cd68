/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "report.h"

/* Length of the valid UTF-8 sequence at p (2-4), or 0. */
static int utf8_len(const unsigned char *p)
{
        int n = *p >= 0xf0 && *p <= 0xf4 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 && *p < 0xe0 ? 2 : 0;

        if (*p >= 0xf5 || n == 0)
                return 0;
        for (int i = 1; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        if ((n == 3 && *p == 0xe0 && p[1] < 0xa0) || (n == 3 && *p == 0xed && p[1] >= 0xa0) ||
            (n == 4 && *p == 0xf0 && p[1] < 0x90) || (n == 4 && *p == 0xf4 && p[1] >= 0x90))
                return 0;       /* overlong, surrogate, beyond U+10FFFF */
        return n;
}

void json_string(FILE *f, const char *s)
{
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (*p >= 0x80) {
                        int n = utf8_len(p);
                        if (n == 0) {
                                fputs("\\ufffd", f);
                        } else {
                                fwrite(p, 1, (size_t)n, f);
                                p += n - 1;
                        }
                        continue;
                }
                switch (*p) {
                case '"': fputs("\\\"", f); break;
                case '\\': fputs("\\\\", f); break;
                case '\n': fputs("\\n", f); break;
                case '\r': fputs("\\r", f); break;
                case '\t': fputs("\\t", f); break;
                default:
                        if (*p < 0x20 || *p == 0x7f)
                                fprintf(f, "\\u%04x", *p);
                        else
                                fputc(*p, f);
                }
        }
        fputc('"', f);
}

static double ms(struct timeval tv)
{
        return (double)tv.tv_sec * 1000.0 + (double)tv.tv_usec / 1000.0;
}

int report_write(FILE *f, const struct report *r)
{
        const struct pv_exit *e = r->exit;

        fputs("{\"command\":[", f);
        for (size_t i = 0; r->argv[i]; i++) {
                if (i)
                        fputc(',', f);
                json_string(f, r->argv[i]);
        }
        fputs("],", f);
        if (!e) {
                fputs("\"status\":\"not-run\",\"error\":", f);
                json_string(f, r->error ? r->error : "");
        } else {
                const char *status = e->kind == PV_EXIT_EXITED ? "exited"
                                   : e->kind == PV_EXIT_KILLED ? "killed" : "lost";
                fprintf(f, "\"status\":\"%s\",\"pid\":%d,", status, (int)e->pid);
                if (e->kind == PV_EXIT_EXITED)
                        fprintf(f, "\"exit_code\":%d,\"signal\":null,", e->code);
                else if (e->kind == PV_EXIT_KILLED)
                        fprintf(f, "\"exit_code\":null,\"signal\":%d,", e->signal);
                else
                        fputs("\"exit_code\":null,\"signal\":null,", f);
                fprintf(f, "\"core_dumped\":%s,\"stopped\":%s,\"escalated\":%s,"
                           "\"timed_out\":%s,\"status_recovered\":%s,\"runtime_ms\":%.3f,",
                        e->core_dumped ? "true" : "false",
                        e->flags & PV_EXIT_F_STOPPED ? "true" : "false",
                        e->flags & PV_EXIT_F_ESCALATED ? "true" : "false",
                        r->timed_out ? "true" : "false",
                        e->flags & PV_EXIT_F_RECOVERED ? "true" : "false",
                        (double)e->runtime_us / 1000.0);
                /* Another reaper took the status: the rusage went with it. */
                if (e->kind == PV_EXIT_LOST || (e->flags & PV_EXIT_F_RECOVERED))
                        fputs("\"user_cpu_ms\":null,\"sys_cpu_ms\":null,\"max_rss_kb\":null", f);
                else
                        fprintf(f, "\"user_cpu_ms\":%.3f,\"sys_cpu_ms\":%.3f,\"max_rss_kb\":%ld",
                                ms(e->rusage.ru_utime), ms(e->rusage.ru_stime),
                                e->rusage.ru_maxrss);
        }
        fprintf(f, ",\"exit_status\":%d,\"spawn_mechanism\":", r->exit_status);
        json_string(f, r->spawn ? r->spawn : "");
        fputs(",\"backend\":", f);
        json_string(f, r->backend ? r->backend : "");
        fputs(",\"kill_tree\":", f);
        json_string(f, r->kill_tree);
        fprintf(f, ",\"stderr_dropped\":%llu}\n", (unsigned long long)r->stderr_dropped);
        return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}
