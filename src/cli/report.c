/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "report.h"

static void json_string(FILE *f, const char *s)
{
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                switch (*p) {
                case '"': fputs("\\\"", f); break;
                case '\\': fputs("\\\\", f); break;
                case '\n': fputs("\\n", f); break;
                case '\r': fputs("\\r", f); break;
                case '\t': fputs("\\t", f); break;
                default:
                        if (*p < 0x20)
                                fprintf(f, "\\u%04x", *p);
                        else
                                fputc(*p, f);   /* UTF-8 passes through */
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
                           "\"timed_out\":%s,\"status_recovered\":%s,"
                           "\"runtime_ms\":%.3f,\"user_cpu_ms\":%.3f,\"sys_cpu_ms\":%.3f,"
                           "\"max_rss_kb\":%ld",
                        e->core_dumped ? "true" : "false",
                        e->flags & PV_EXIT_STOPPED ? "true" : "false",
                        e->flags & PV_EXIT_ESCALATED ? "true" : "false",
                        r->timed_out ? "true" : "false",
                        e->flags & PV_EXIT_RECOVERED ? "true" : "false",
                        (double)e->runtime_us / 1000.0, ms(e->rusage.ru_utime),
                        ms(e->rusage.ru_stime), e->rusage.ru_maxrss);
        }
        fprintf(f, ",\"exit_status\":%d,\"spawn_mechanism\":", r->exit_status);
        json_string(f, r->spawn ? r->spawn : "");
        fputs(",\"backend\":", f);
        json_string(f, r->backend ? r->backend : "");
        fputs(",\"kill_tree\":", f);
        json_string(f, r->kill_tree);
        fputs("}\n", f);
        return fflush(f) == 0 && !ferror(f) ? 0 : -EIO;
}
