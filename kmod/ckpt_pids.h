/* SPDX-License-Identifier: GPL-2.0 */
/* Internal declarations shared by the files of the ckpt_pids module. */
#ifndef _CKPT_PIDS_H
#define _CKPT_PIDS_H

#include "uapi/ckpt_pids.h"

#define CKPT_PIDS_MODULE_VERSION "0.1.0"

/* The CKPT_PIDS_A_FEATURES bits this build implements. */
#define CKPT_PIDS_FEATURES 0ULL

#endif /* _CKPT_PIDS_H */
