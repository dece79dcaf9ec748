/* Where the SOAP envelope lies in an HTTP body, see mime.h. */
#include "mime.h"
#include "headers.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A token at p: its length (0: none). */
static size_t token(const char *p)
{
    size_t n = 0;
    while (ss_headers_token_char(p[n]))
        n++;
    return n;
}

bool ss_mime_media_type(const char *ct, char *out, size_t size)
{
    if (!ct)
        return false;
    const char *p = ows(ct);
    size_t a = token(p);
    if (!a || p[a] != '/')
        return false;
    size_t b = token(p + a + 1);
    if (!b || a + 1 + b >= size)
        return false;
    for (size_t i = 0; i < a + 1 + b; i++)
        out[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
    out[a + 1 + b] = '\0';
    p = ows(p + a + 1 + b);
    return *p == '\0' || *p == ';';
}

/*
 * Walks the parameters; for name, copies its value. Returns false for a
 * malformed value (so that a parameter after a malformed one is not read).
 */
static bool params(const char *ct, const char *name, char *out, size_t size, bool *found)
{
    *found = false;
    const char *p = ows(ct);
    size_t a = token(p);
    if (!a || p[a] != '/')
        return false;
    p += a + 1;
    p += token(p);
    for (;;) {
        p = ows(p);
        if (*p == '\0')
            return true;
        if (*p != ';')
            return false;
        p = ows(p + 1);
        if (*p == '\0')
            return true; /* a trailing ';' */
        size_t n = token(p);
        if (!n || p[n] != '=')
            return false;
        size_t wl = strlen(name);
        bool named = wl == n && strncasecmp(p, name, n) == 0;
        /* the parameter twice, or in RFC 2231's name* form, could be read another way by
         * another parser: refused */
        if ((named && *found) || (n > wl && p[wl] == '*' && strncasecmp(p, name, wl) == 0))
            return false;
        bool want = named;
        p += n + 1;
        size_t o = 0;
        if (*p == '"') {
            for (p++; *p != '"'; p++) {
                if (*p == '\0')
                    return false;
                if (*p == '\\' && p[1])
                    p++;
                unsigned char c = (unsigned char)*p;
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                    return false;
                if (want && o + 1 < size)
                    out[o++] = *p;
                else if (want)
                    return false;
            }
            p++;
        } else {
            size_t v = token(p);
            if (!v)
                return false;
            if (want && v >= size)
                return false;
            if (want)
                memcpy(out, p, v);
            o = v;
            p += v;
        }
        if (want) {
            out[o] = '\0';
            *found = true;
        }
    }
}

bool ss_mime_param(const char *ct, const char *name, char *out, size_t size)
{
    bool found = false;
    if (!ct || !params(ct, name, out, size, &found))
        return false;
    return found;
}

bool ss_mime_is_soap(const char *ct)
{
    char media[128];
    return ss_mime_media_type(ct, media, sizeof media) &&
           (strcmp(media, "text/xml") == 0 || strcmp(media, "multipart/related") == 0);
}

static ss_error bad(const char *what)
{
    return ss_errf(SS_ERR_PROTOCOL, "malformed multipart message: %s", what);
}

/*
 * How a multipart body breaks its lines: CRLF, as RFC 2046 says, or a bare
 * LF throughout, as many MIME writers do (X-Road's own test messages
 * among them, which its security server reads). One body never mixes the
 * two around its delimiters (see delimiter_breaks).
 */
struct framing {
    const char *boundary;
    size_t blen;
    size_t eol; /* the line break's length: 2 for CRLF, 1 for a bare LF */
};

/* Where the line at at ends: the offset of its line break, or SIZE_MAX. */
static size_t line_end(const struct framing *f, const uint8_t *b, size_t at, size_t len)
{
    if (f->eol == 1) {
        const uint8_t *nl = at < len ? memchr(b + at, '\n', len - at) : NULL;
        return nl ? (size_t)(nl - b) : SIZE_MAX;
    }
    for (size_t i = at; i + 1 < len; i++) {
        const uint8_t *cr = memchr(b + i, '\r', len - 1 - i);
        if (!cr)
            break;
        i = (size_t)(cr - b);
        if (b[i + 1] == '\n')
            return i;
    }
    return SIZE_MAX;
}

/* True if "--boundary" begins at b[at]. */
static bool dash_boundary_at(const struct framing *f, const uint8_t *b, size_t len, size_t at)
{
    return at + 2 + f->blen <= len && b[at] == '-' && b[at + 1] == '-' &&
           memcmp(b + at + 2, f->boundary, f->blen) == 0;
}

/*
 * The next delimiter, line break then "--boundary", at or after at (or "--boundary" at offset
 * 0): the offset of its line break (of the "--" at offset 0), or SIZE_MAX. A part with no body
 * (RFC 2046 5.1.1: its headers, then the delimiter) has the line break that ended its headers'
 * blank line as the delimiter's: "--boundary" right at at.
 */
static size_t next_delimiter(const struct framing *f, const uint8_t *b, size_t len, size_t at)
{
    if (at == 0 && dash_boundary_at(f, b, len, 0))
        return 0;
    if (at >= f->eol && b[at - 1] == '\n' && (f->eol == 1 || b[at - 2] == '\r') &&
        dash_boundary_at(f, b, len, at))
        return at - f->eol;
    for (size_t i = at;;) {
        size_t e = line_end(f, b, i, len);
        if (e == SIZE_MAX || e + f->eol + 2 + f->blen > len)
            return SIZE_MAX;
        const uint8_t *d = b + e + f->eol;
        if (d[0] == '-' && d[1] == '-' && memcmp(d + 2, f->boundary, f->blen) == 0)
            return e;
        i = e + 1;
    }
}

/* Past the blanks (transport padding) after a delimiter's boundary at at. */
static size_t past_padding(const uint8_t *b, size_t at, size_t len)
{
    while (at < len && (b[at] == ' ' || b[at] == '\t'))
        at++;
    return at;
}

/* A part's header lines; content-type, -id and -transfer-encoding of the first kept. */
struct part_fields {
    char type[256], id[256], cte[64];
};

/*
 * One header field of a part, unfolded: its name and value, the three kept.
 * first is the length of its first line, folds the lines that continued it.
 */
static ss_error part_field(char *line, size_t first, unsigned folds, struct part_fields *f)
{
    size_t nl = token(line);
    if (!nl || line[nl] != ':')
        return bad("a part header line is not 'name: value'");
    line[nl] = '\0';
    const char *value = ows(line + nl + 1);
    for (const char *c = value; *c; c++)
        if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
            return bad("a control character in a part's header");
    char *dst = NULL;
    size_t dsize = 0;
    if (strcasecmp(line, "Content-Type") == 0)
        dst = f->type, dsize = sizeof f->type;
    else if (strcasecmp(line, "Content-ID") == 0)
        dst = f->id, dsize = sizeof f->id;
    else if (strcasecmp(line, "Content-Transfer-Encoding") == 0)
        dst = f->cte, dsize = sizeof f->cte;
    if (!dst)
        return SS_OK;
    /* parsers unfold differently (a space for the line break, or the break kept), and would
     * compare another Content-ID with the start parameter: a kept field may only start its
     * value on the one line after its name (as Axis2 writes it), where all of them agree */
    bool blank_first = true; /* the first line holds no value, only blanks after the colon */
    for (size_t i = nl + 1; i < first; i++)
        blank_first = blank_first && (line[i] == ' ' || line[i] == '\t');
    if (folds > 1 || (folds == 1 && !blank_first))
        return bad("a part's Content-Type, Content-ID or Content-Transfer-Encoding folded "
                   "inside its value (parsers unfold it differently)");
    if (dst[0])
        return bad("a part names its Content-Type, Content-ID or Content-Transfer-Encoding "
                   "twice");
    size_t whole = strlen(value), vl = whole;
    ss_headers_value_trim(&value, &vl);
    if (dst == f->id && vl < whole)
        return bad("blanks after a part's Content-ID (parsers that keep them would not find it "
                   "named by the start parameter)");
    if (vl == 0 || vl >= dsize)
        return bad("a part header value is empty or too long");
    memcpy(dst, value, vl);
    dst[vl] = '\0';
    return SS_OK;
}

/*
 * A part's header, up to and past the empty line that ends it. A line that
 * starts with a blank continues the field before it (RFC 5322 folding, as
 * Axis2 writes its Content-IDs): the line break is taken out, the blanks
 * kept. A line of blanks alone is refused: some parsers read it as the
 * header's end, others as a fold, and they would start the part's content
 * at different lines.
 */
static ss_error part_headers(const struct framing *fr, const uint8_t *b, size_t len, size_t *at,
                             struct part_fields *f)
{
    memset(f, 0, sizeof *f);
    char field[SS_MIME_MAX_HEADER_LINE + 1];
    size_t used = 0, first = 0; /* the field read so far, unfolded (0: none); its first line */
    unsigned folds = 0;
    for (size_t n = 0;; n++) {
        size_t e = line_end(fr, b, *at, len);
        if (e == SIZE_MAX)
            return bad("a part's header does not end");
        if (fr->eol == 1 && e > *at && b[e - 1] == '\r')
            return bad("a part's header line ends with CRLF where the delimiters' lines end with "
                       "a bare LF");
        const uint8_t *p = b + *at;
        size_t linelen = e - *at;
        bool fold = linelen > 0 && (p[0] == ' ' || p[0] == '\t');
        if (!fold && used) { /* the field before is whole */
            field[used] = '\0';
            ss_error err = part_field(field, first, folds, f);
            if (err)
                return err;
            used = 0;
        }
        *at = e + fr->eol;
        if (linelen == 0)
            return SS_OK;
        if (n >= SS_MIME_MAX_PART_HEADERS)
            return ss_errf(SS_ERR_LIMIT, "a part with more than %d header lines",
                           SS_MIME_MAX_PART_HEADERS);
        if (memchr(p, 0, linelen))
            return bad("a NUL byte in a part's header");
        if (fold && !used)
            return bad("a folded part header line with no field before it");
        size_t blanks = 0;
        while (blanks < linelen && (p[blanks] == ' ' || p[blanks] == '\t'))
            blanks++;
        if (blanks == linelen)
            return bad("a part header line of blanks alone (the header's end to some parsers, a "
                       "fold to others)");
        if (used + linelen > SS_MIME_MAX_HEADER_LINE)
            return ss_errf(SS_ERR_LIMIT, "a part's header field longer than %d bytes",
                           SS_MIME_MAX_HEADER_LINE);
        if (fold)
            folds++;
        else
            first = linelen, folds = 0;
        memcpy(field + used, p, linelen);
        used += linelen;
    }
}

/* The SOAP part's own fields: an XML envelope, not encoded. */
static ss_error soap_part(const struct part_fields *f, const char *start, struct ss_mime_soap *out)
{
    char media[128];
    if (!f->type[0] || !ss_mime_media_type(f->type, media, sizeof media))
        return bad("the first part has no valid Content-Type");
    if (strcmp(media, "application/xop+xml") == 0)
        out->mtom = true;
    else if (strcmp(media, "text/xml") != 0)
        return ss_errf(SS_ERR_PROTOCOL,
                       "the first part must be the SOAP message (text/xml or application/xop+xml), "
                       "not %.64s",
                       media);
    bool found;
    if (!params(f->type, "charset", out->charset, sizeof out->charset, &found))
        return bad("the first part's Content-Type parameters do not parse (or its charset is "
                   "too long)");
    if (f->cte[0] && strcasecmp(f->cte, "8bit") != 0 && strcasecmp(f->cte, "7bit") != 0 &&
        strcasecmp(f->cte, "binary") != 0)
        return ss_errf(SS_ERR_PROTOCOL,
                       "the SOAP part's Content-Transfer-Encoding must be 8bit, not %.32s", f->cte);
    if (start[0] && strcmp(start, f->id) != 0)
        return bad("the start parameter does not name the first part (the SOAP part must come "
                   "first)");
    return SS_OK;
}

/*
 * Every line that starts "--boundary" is a delimiter, and all of them
 * break their lines one way, which sets f->eol: after CRLF and ended by
 * CRLF, or after a bare LF and ended by a bare LF. The way is the first
 * delimiter's: the line break before it, or the one ending it when it
 * opens the body. A body that mixes the two around its delimiters, or
 * has a bare CR before one, is refused, in the preamble as anywhere: a
 * parser that splits lines at LF and one that splits them at CRLF would
 * find other parts in it, and the service could read another SOAP part
 * than secsrv checked. A body of bare LFs has no delimiter at all for a
 * parser of CRLFs alone, which refuses it.
 */
static ss_error delimiter_breaks(const uint8_t *b, size_t len, struct framing *f)
{
    f->eol = 0;
    for (size_t i = 0; i + 2 + f->blen <= len;) {
        const uint8_t *hit = memchr(b + i, '-', len - i);
        if (!hit)
            break;
        size_t at = (size_t)(hit - b), brk;
        i = at + 1;
        if (at + 2 + f->blen > len || b[at + 1] != '-' ||
            memcmp(b + at + 2, f->boundary, f->blen) != 0)
            continue;
        if (at == 0) { /* the body opens with it: the break ending its line */
            size_t e = past_padding(b, at + 2 + f->blen, len);
            if (e < len && b[e] != '\r' && b[e] != '\n')
                continue; /* not a delimiter line: the multipart reading says so */
            brk = e < len && b[e] == '\n' ? 1 : 2;
        } else if (b[at - 1] == '\n')
            brk = at >= 2 && b[at - 2] == '\r' ? 2 : 1;
        else if (b[at - 1] == '\r')
            return bad("a delimiter line after a bare CR");
        else if (at == 3 && memcmp(b, "\xef\xbb\xbf", 3) == 0)
            return bad("a byte order mark before the first delimiter (to some parsers it "
                       "starts the first line, to others it is a preamble)");
        else
            continue; /* the boundary's text inside a line is content */
        if (!f->eol)
            f->eol = brk;
        else if (f->eol != brk)
            return bad("delimiter lines after CRLF and after a bare LF in one body (parsers "
                       "that split lines at LF would read other parts)");
    }
    if (!f->eol)
        f->eol = 2;
    return SS_OK;
}

static ss_error multipart(const char *ct, const uint8_t *b, size_t len, struct ss_mime_soap *out)
{
    char boundary[80], type[64] = "", start[256] = "";
    bool found;
    ss_error err;
    if (!params(ct, "boundary", boundary, sizeof boundary, &found))
        return bad("its Content-Type parameters do not parse (a boundary over 70 bytes, or a "
                   "parameter twice)");
    if (!found || !boundary[0])
        return bad("its Content-Type has no boundary");
    size_t blen = strlen(boundary);
    if (blen > 70 || boundary[blen - 1] == ' ')
        return bad("the boundary is longer than 70 bytes or ends with a space");
    if (!params(ct, "type", type, sizeof type, &found))
        return bad("its type parameter is too long or given twice");
    if (found) {
        char media[64];
        if (!ss_mime_media_type(type, media, sizeof media) ||
            (strcmp(media, "text/xml") != 0 && strcmp(media, "application/xop+xml") != 0))
            return ss_errf(SS_ERR_PROTOCOL, "multipart/related of type %.64s is not a SOAP message",
                           type);
    }
    if (!params(ct, "start", start, sizeof start, &found))
        return bad("its start parameter is too long or given twice");
    struct framing fr = {boundary, blen, 2};
    if ((err = delimiter_breaks(b, len, &fr)))
        return err;
    size_t d = next_delimiter(&fr, b, len, 0);
    if (d == SIZE_MAX)
        return bad("no delimiter line");
    size_t at = d == 0 ? 0 : d + fr.eol; /* at the "--" */
    out->multipart = true;
    out->bare_lf = fr.eol == 1;
    for (;;) {
        at += 2 + blen;
        if (at + 2 <= len && b[at] == '-' && b[at + 1] == '-') {
            if (out->parts == 0)
                return bad("no part before the close delimiter");
            return SS_OK; /* the epilogue is not read */
        }
        at = past_padding(b, at, len);
        if (at == len) { /* the body ends with a delimiter that lacks its "--": the close one to
                          * X-Road, and to no parser the start of another part */
            if (out->parts == 0)
                return bad("no part before the close delimiter");
            return SS_OK;
        }
        if (fr.eol == 2 && (at + 2 > len || b[at] != '\r' || b[at + 1] != '\n'))
            return bad("a delimiter line does not end with CRLF");
        if (fr.eol == 1 && (at + 1 > len || b[at] != '\n'))
            return bad("a delimiter line does not end with a bare LF, the line break its first "
                       "delimiter set for the body");
        at += fr.eol;
        if (++out->parts > SS_MIME_MAX_PARTS)
            return ss_errf(SS_ERR_LIMIT, "a multipart message with more than %d parts",
                           SS_MIME_MAX_PARTS);
        struct part_fields f;
        err = part_headers(&fr, b, len, &at, &f);
        if (err)
            return err;
        size_t next = next_delimiter(&fr, b, len, at);
        if (next == SIZE_MAX)
            return bad("a part has no delimiter after it (no close delimiter)");
        if (out->parts == 1) {
            if ((err = soap_part(&f, start, out)))
                return err;
            if (next < at) /* headers alone: no envelope */
                return bad("the SOAP part has no body");
            out->start = at;
            out->len = next - at;
        }
        at = next + fr.eol;
    }
}

ss_error ss_mime_soap_locate(const char *ct, const uint8_t *body, size_t len,
                             struct ss_mime_soap *out)
{
    memset(out, 0, sizeof *out);
    char media[128];
    if (!ct || !ss_mime_media_type(ct, media, sizeof media))
        return ss_errf(SS_ERR_PROTOCOL, "a SOAP message needs a Content-Type (text/xml or "
                                        "multipart/related)");
    if (strcmp(media, "text/xml") == 0) {
        bool found;
        if (!params(ct, "charset", out->charset, sizeof out->charset, &found))
            return ss_errf(SS_ERR_PROTOCOL, "the Content-Type's parameters do not parse (or its "
                                            "charset is too long)");
        out->start = 0;
        out->len = len;
        out->parts = 1;
        return SS_OK;
    }
    if (strcmp(media, "multipart/related") == 0)
        return multipart(ct, body, len, out);
    return ss_errf(SS_ERR_PROTOCOL,
                   "Content-Type %.64s is not a SOAP 1.1 message (text/xml or multipart/related)",
                   media);
}
