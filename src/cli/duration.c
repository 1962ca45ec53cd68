/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "duration.h"

int duration_parse(const char *s, uint64_t *ret_ms)
{
        uint64_t whole = 0, frac = 0, frac_div = 1, unit, ms;
        const char *p = s;
        bool big = false;

        if (!s || !*s)
                return -EINVAL;
        if (*p < '0' || *p > '9')
                return -EINVAL;         /* no sign, no leading dot */
        for (; *p >= '0' && *p <= '9'; p++) {
                whole = whole * 10 + (uint64_t)(*p - '0');
                if (whole > DURATION_MAX_MS) {
                        big = true;     /* read on: junk after it is EINVAL */
                        whole = DURATION_MAX_MS + 1;
                }
        }
        if (*p == '.') {
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                for (; *p >= '0' && *p <= '9'; p++)
                        if (frac_div < 1000000) {
                                frac = frac * 10 + (uint64_t)(*p - '0');
                                frac_div *= 10;
                        }
        }
        if (!strcmp(p, "ms"))
                unit = 1;
        else if (!strcmp(p, "s") || !*p)
                unit = 1000;
        else if (!strcmp(p, "m"))
                unit = 60 * 1000;
        else if (!strcmp(p, "h"))
                unit = 3600 * 1000;
        else
                return -EINVAL;
        if (big || whole > DURATION_MAX_MS / unit)
                return -ERANGE;
        ms = whole * unit + frac * unit / frac_div;
        if (ms > DURATION_MAX_MS)
                return -ERANGE;
        *ret_ms = ms;
        return 0;
}
