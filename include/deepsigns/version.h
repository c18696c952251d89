/* version.h - the program's version and the git revision it was built from.
 *
 * DS_VERSION is the release; DS_GIT_REV is set by the build (-DDS_GIT_REV="...")
 * when it knows the revision, and is "unknown" otherwise. Both are recorded in
 * every results file.
 */
#ifndef DEEPSIGNS_VERSION_H
#define DEEPSIGNS_VERSION_H

#ifndef DS_VERSION
#define DS_VERSION "0.1.0"
#endif

#ifndef DS_GIT_REV
#define DS_GIT_REV "unknown"
#endif

#endif
