/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "duration.h"

#define MAX_MS (366ull * 24 * 3600 * 1000)

int duration_parse(const char *s, uint64_t *ret_ms)
{
        uint64_t whole = 0, frac = 0, frac_div = 1, unit;
        const char *p = s;

        if (!s || !*s)
                return -EINVAL;
        if (*p < '0' || *p > '9')
                return -EINVAL;         /* no sign, no leading dot */
        for (; *p >= '0' && *p <= '9'; p++) {
                whole = whole * 10 + (uint64_t)(*p - '0');
                if (whole > MAX_MS)
                        return -EINVAL;
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
        if (whole > MAX_MS / unit)
                return -EINVAL;
        *ret_ms = whole * unit + frac * unit / frac_div;
        if (*ret_ms > MAX_MS)
                return -EINVAL;
        return 0;
}
