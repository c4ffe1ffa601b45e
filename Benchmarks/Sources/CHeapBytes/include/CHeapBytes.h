#ifndef CHEAPBYTES_H
#define CHEAPBYTES_H
#include <stddef.h>
/* Bytes glibc's malloc has handed out and not yet had back (mallinfo2). */
size_t heap_bytes_in_use(void);
#endif
