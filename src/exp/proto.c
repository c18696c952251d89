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

ds_status ds_proto_send_store(const char *path, int dest, ds_err *err)
{
    const size_t n = strlen(path) + 1;
    if (n > INT_MAX) return ds_err_set(err, DS_ERANGE, "the blob store's path is too long to send");
    DS_MPI_TRY(MPI_Send(path, (int)n, MPI_CHAR, dest, DS_PROTO_STORE, MPI_COMM_WORLD), "MPI_Send (store)");
    return DS_OK;
}

ds_status ds_proto_recv_store(char *buf, size_t cap, ds_err *err)
{
    MPI_Status status;
    int count = 0;
    DS_MPI_TRY(MPI_Probe(0, DS_PROTO_STORE, MPI_COMM_WORLD, &status), "MPI_Probe (store)");
    DS_MPI_TRY(MPI_Get_count(&status, MPI_CHAR, &count), "MPI_Get_count (store)");
    if (count < 2 || (size_t)count > cap)
        return ds_err_set(err, DS_EINVAL, "sweep: a %d-byte blob store path (at most %zu)", count, cap);
    DS_MPI_TRY(MPI_Recv(buf, count, MPI_CHAR, 0, DS_PROTO_STORE, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
               "MPI_Recv (store)");
    buf[count - 1] = '\0';
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
