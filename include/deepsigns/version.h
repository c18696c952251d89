/* version.h - the program's version and the git revision it was built from.
 *
 * DS_VERSION is the release; DS_GIT_REV comes from the build's git_rev.h
 * (or -DDS_GIT_REV="...") when it knows the revision, and is "unknown" otherwise. Both are recorded in
 * every results file.
 */
#ifndef DEEPSIGNS_VERSION_H
#define DEEPSIGNS_VERSION_H

#ifndef DS_VERSION
#define DS_VERSION "0.1.0"
#endif

#if !defined(DS_GIT_REV) && defined(__has_include)
#if __has_include("git_rev.h") /* written by the Makefile */
#include "git_rev.h"
#endif
#endif
#ifndef DS_GIT_REV
#define DS_GIT_REV "unknown"
#endif

#endif
