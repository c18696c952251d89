/* proto.c - the sweep's messages and MPI plumbing (see proto.h). */
#include "exp/proto.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deepsigns/progress.h"

ds_status ds_proto_fail(ds_err *err, int rc, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "code %d", rc);
    return ds_err_set(err, DS_ELIB, "MPI: %s failed: %s", what, s);
}

ds_status ds_proto_wait(int source, int tag, volatile sig_atomic_t *stop, double patience,
                        MPI_Status *status, int *got, ds_err *err)
{
    long pause_ns = 50000;
    const double give_up = patience >= 0.0 ? ds_now() + patience : 0.0;
    *got = 0;
    for (;;) {
        int flag = 0;
        DS_MPI_TRY(MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, status), "MPI_Iprobe");
        if (flag) {
            *got = 1;
            return DS_OK;
        }
        if ((stop && *stop) || (patience >= 0.0 && ds_now() > give_up)) return DS_OK;
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        if (pause_ns < 5000000) pause_ns += pause_ns / 2;
    }
}

ds_status ds_proto_send_empty(int dest, ds_proto_tag tag, ds_err *err)
{
    DS_MPI_TRY(MPI_Send(NULL, 0, MPI_BYTE, dest, (int)tag, MPI_COMM_WORLD),
               tag == DS_PROTO_READY ? "MPI_Send (ready)" : "MPI_Send (stop)");
    return DS_OK;
}

ds_status ds_proto_recv_empty(int source, ds_proto_tag tag, ds_err *err)
{
    DS_MPI_TRY(MPI_Recv(NULL, 0, MPI_BYTE, source, (int)tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
               tag == DS_PROTO_READY ? "MPI_Recv (ready)" : "MPI_Recv (stop)");
    return DS_OK;
}

ds_status ds_proto_send_blob(const void *p, size_t n, int dest, ds_err *err)
{
    if (n > INT_MAX) return ds_err_set(err, DS_ERANGE, "a %zu-byte image is too large to send", n);
    DS_MPI_TRY(MPI_Send(p, (int)n, MPI_BYTE, dest, DS_PROTO_BLOB, MPI_COMM_WORLD), "MPI_Send (image)");
    return DS_OK;
}

ds_status ds_proto_recv_blob(int source, void **p, size_t *n, ds_err *err)
{
    MPI_Status status;
    int count = 0;
    DS_MPI_TRY(MPI_Probe(source, DS_PROTO_BLOB, MPI_COMM_WORLD, &status), "MPI_Probe (image)");
    DS_MPI_TRY(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    *p = malloc(count ? (size_t)count : 1);
    if (!*p) return ds_err_set(err, DS_ENOMEM, "out of memory for a %d-byte image", count);
    *n = (size_t)count;
    int rc = MPI_Recv(*p, count, MPI_BYTE, source, DS_PROTO_BLOB, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
        free(*p);
        *p = NULL;
        return ds_proto_fail(err, rc, "MPI_Recv (image)");
    }
    return DS_OK;
}

ds_status ds_proto_send_task(const ds_proto_task *t, int dest, ds_err *err)
{
    DS_MPI_TRY(MPI_Send(t, sizeof *t, MPI_BYTE, dest, DS_PROTO_TASK, MPI_COMM_WORLD), "MPI_Send (task)");
    return DS_OK;
}

ds_status ds_proto_recv_task(ds_proto_task *t, ds_err *err)
{
    DS_MPI_TRY(MPI_Recv(t, sizeof *t, MPI_BYTE, 0, DS_PROTO_TASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
               "MPI_Recv (task)");
    return DS_OK;
}

ds_status ds_proto_send_result(const ds_proto_result *r, ds_err *err)
{
    DS_MPI_TRY(MPI_Send(r, sizeof *r, MPI_BYTE, 0, DS_PROTO_RESULT, MPI_COMM_WORLD), "MPI_Send (result)");
    return DS_OK;
}

ds_status ds_proto_recv_result(int source, ds_proto_result *r, ds_err *err)
{
    DS_MPI_TRY(MPI_Recv(r, sizeof *r, MPI_BYTE, source, DS_PROTO_RESULT, MPI_COMM_WORLD,
                        MPI_STATUS_IGNORE),
               "MPI_Recv (result)");
    return DS_OK;
}

void ds_proto_versions(char *compiled, size_t clen, char *runtime, size_t rlen)
{
#ifdef OMPI_MAJOR_VERSION
    snprintf(compiled, clen, "%d.%d.%d", OMPI_MAJOR_VERSION, OMPI_MINOR_VERSION,
             OMPI_RELEASE_VERSION);
#else
    snprintf(compiled, clen, "not Open MPI (MPI %d.%d)", MPI_VERSION, MPI_SUBVERSION);
#endif
    runtime[0] = '\0';
    int init = 0;
    if (MPI_Initialized(&init) != MPI_SUCCESS || !init) return; /* no library text: "" */
    char lib[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    if (MPI_Get_library_version(lib, &len) != MPI_SUCCESS) return; /* likewise */
    lib[len > 0 && len < MPI_MAX_LIBRARY_VERSION_STRING ? len : 0] = '\0';
    size_t l = strlen(lib);
    while (l > 0 && (lib[l - 1] == '\n' || lib[l - 1] == ' ')) lib[--l] = '\0';
    snprintf(runtime, rlen, "%s", lib);
}
