/*
 * engine/cutover.c - the end of a migration and the way back
 * (docs/cutover.md): the cutover state machine, the reverse stream's
 * set-up on the target, and rollback.
 *
 * Every step is recorded in ferry.db before its work, and every step's
 * work can be done twice, so a killed cutover or rollback is run again
 * and goes on (or is abandoned with --abort).  Whatever fails before the
 * switch takes the fence away again: the application never stays locked
 * out of the database it writes to without a message saying so.
 */
#include "engine/online.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/alloc.h"
#include "engine/online_internal.h"
#include "engine/registry.h"
#include "engine/verify.h"

static double seconds_since(int64_t t0)
{
	return (double)(ferry_now_us() - t0) / 1e6;
}

static bool past(int64_t deadline)
{
	return deadline && ferry_now_us() > deadline;
}

static char *get_or_empty(online *on, const char *key)
{
	char *v = NULL;
	if (ferry_state_get(on->state, key, &v, NULL) < 0 || !v) {
		ferry_free(v);
		v = ferry_strdup("");
	}
	return v;
}

/* The hook's view of the migration: the same in both directions. */
typedef struct hook_env {
	const char *action; /* "cutover" or "rollback" */
	const char *source; /* the migration's source, redacted */
	const char *target; /* its target, redacted */
} hook_env;

/* Runs the hook with sh -c, the migration in its environment. */
static int run_hook(online *on, const char *hook, const hook_env *env,
                    ferry_error *err)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return ferry_error_set(err, FERRY_ERROR, "could not run the hook: "
		                       "%s", strerror(errno));
	if (pid == 0) {
		setenv("FERRY_MIGRATION", on->forward_id, 1);
		setenv("FERRY_ACTION", env->action, 1);
		setenv("FERRY_SOURCE", env->source, 1);
		setenv("FERRY_TARGET", env->target, 1);
		execl("/bin/sh", "sh", "-c", hook, (char *)NULL);
		_exit(127);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return ferry_error_set(err, FERRY_ERROR, "could not wait for "
			                       "the hook: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		return ferry_error_set(err, FERRY_ERROR, "the hook failed (exit "
		                       "%d): %s", WEXITSTATUS(status), hook);
	return ferry_error_set(err, FERRY_ERROR, "the hook was killed by "
	                       "signal %d: %s", WTERMSIG(status), hook);
}

/* With both sides fenced and every change applied the two databases
 * must be equal (as the plan maps them): the last moment a difference
 * can still be backed out.  *rows = rows compared. */
static int verify_equal(online *on, int64_t *rows, ferry_error *err)
{
	ferry_verify_options vo = {0};
	ferry_verify_report vr;
	memset(&vr, 0, sizeof vr);
	vo.dir = on->o->dir;
	vo.wait_seconds = 5;
	int rc = ferry_verify(&vo, &vr, err);
	if (rc == 0 && vr.differences > 0)
		rc = ferry_error_set(err, FERRY_ERROR, "verify found %lld "
		                     "differences between the source and the "
		                     "target (ferry verify lists them)",
		                     (long long)vr.differences);
	/* verify counts rows the target's conversions refused apart, not
	 * as differences; after the switch they would be missing from the
	 * primary, so they stop the switch too */
	int64_t rejected = 0;
	*rows = 0;
	for (uint32_t i = 0; i < vr.ntables; i++) {
		*rows += vr.tables[i].target_rows;
		rejected += vr.tables[i].rejected;
	}
	if (rc == 0 && rejected > 0)
		rc = ferry_error_set(err, FERRY_ERROR, "%lld source rows were "
		                     "rejected by the plan's conversions and are "
		                     "not on the target (ferry.db's rejects table "
		                     "lists them): fix them on the source, or "
		                     "change the spec, before switching",
		                     (long long)rejected);
	ferry_verify_report_free(&vr);
	return rc;
}

/* ---- the reverse stream's capture on the target ---------------------- */

static void remove_reverse_journal(const char *dir)
{
	static const char *const files[] = {
	    ONLINE_REVERSE_JOURNAL "/data.mdb", ONLINE_REVERSE_JOURNAL "/lock.mdb",
	    ONLINE_REVERSE_JOURNAL, ONLINE_REVERSE_DIR};
	online_remove_in(dir, files, sizeof files / sizeof *files);
}

/* The plan's target tables as the target describes them now. */
static int captured_tables(online *on, const ferry_schema *live,
                           ferry_schema *out, ferry_error *err)
{
	out->tables = ferry_calloc(on->ntables + 1, sizeof *out->tables);
	if (!out->tables)
		return ferry_error_oom(err);
	for (uint32_t i = 0; i < on->ntables; i++) {
		const char *name = on->xops->target_table(on->xf, i)->name;
		const ferry_table *t = NULL;
		for (uint32_t k = 0; k < live->ntables && !t; k++)
			if (strcmp(live->tables[k].name, name) == 0)
				t = &live->tables[k];
		if (!t)
			return ferry_error_set(err, FERRY_ENOTFOUND, "table \"%s\" is "
			                       "not in %s: the reverse stream cannot "
			                       "capture it", name, on->dst_uri.redacted);
		out->tables[out->ntables++] = *t;
	}
	return 0;
}

/* Why this migration cannot have a reverse stream; NULL when it can.
 * The refusal text is ferry rollback's too. */
static int reverse_refusal(online *on, char **why, ferry_error *err)
{
	ferry_transform *inverse = NULL;
	const ferry_transform_ops *iops = NULL;
	ferry_error refused = FERRY_ERROR_INIT;
	*why = NULL;
	int rc = on->xops->invert
	             ? on->xops->invert(&inverse, &iops, on->xf,
	                                online_dialect_of(&on->src_uri), &refused)
	             : ferry_error_set(&refused, FERRY_EINVAL, "rollback is not "
	                               "possible: this plan cannot run backwards");
	if (inverse)
		iops->free(inverse);
	if (rc == FERRY_EINVAL) {
		*why = ferry_strdup(ferry_error_message(&refused));
		rc = *why ? 0 : ferry_error_oom(err);
	} else if (rc < 0) {
		rc = ferry_error_set(err, rc, "%s", ferry_error_message(&refused));
	}
	ferry_error_clear(&refused);
	return rc;
}

/*
 * Installs capture on the target for the reverse stream and gives its
 * journal a start position, before the fence: from then on every write
 * to the target that is not ferry's own (those carry ferry's origin, or
 * run with triggers off) is journalled, and after the switch those are
 * the application's.  Idempotent: a resumed cutover keeps what a
 * previous run installed, and its journal.
 */
static int reverse_install(online *on, ferry_error *err)
{
	char *installed = NULL;
	ferry_buf rid = FERRY_BUF_INIT, report = FERRY_BUF_INIT;
	ferry_schema live = {0}, carried = {0};
	ferry_capture *rcap = NULL;
	ferry_journal *journal = NULL;
	const ferry_capture_ops *rcops = ferry_capture_for(on->dst_uri.kind);
	if (!rcops)
		return ferry_error_set(err, FERRY_EUNSUPPORTED, "cannot capture "
		                       "changes from %s databases, so there can be "
		                       "no reverse stream: cut over with "
		                       "--no-rollback", ferry_uri_kind_name(
		                                            on->dst_uri.kind));
	if (on->origin_refused)
		return ferry_error_set(err, FERRY_EUNSUPPORTED, "%s does not let "
		                       "ferry mark its writes with a replication "
		                       "origin, so a reverse stream would carry "
		                       "ferry's own writes back: grant it (see the "
		                       "warning above), or cut over with "
		                       "--no-rollback", on->dst_uri.redacted);
	online_reverse_id(&rid, on->id);
	int rc = ferry_buf_cstr(&rid) ? rcops->open(&rcap, &on->dst_uri, err)
	                              : ferry_error_oom(err);
	if (rc == 0)
		rc = rcops->introspect(rcap, &live, err);
	if (rc == 0)
		rc = captured_tables(on, &live, &carried, err);
	if (rc == 0 && rcops->make_capturable)
		rc = rcops->make_capturable(rcap, &carried, &report, err);
	bool fresh = false;
	if (rc == 0) {
		int irc = rcops->installed(rcap, &installed, NULL);
		fresh = irc == FERRY_ENOTFOUND ||
		        (irc == 0 && strcmp(installed, ferry_buf_cstr(&rid)) != 0);
		rc = irc == FERRY_ENOMEM ? ferry_error_oom(err) : 0;
	}
	if (rc == 0)
		rc = rcops->install(rcap, &carried, ferry_buf_cstr(&rid), err);
	/* a journal left by an earlier reverse stream (a cutover aborted, a
	 * rollback done) does not belong to this capture */
	if (rc == 0 && fresh)
		remove_reverse_journal(on->o->dir);
	ferry_buf path = FERRY_BUF_INIT;
	if (rc == 0) {
		online_path_in(&path, on->o->dir, ONLINE_REVERSE_DIR);
		if (!ferry_buf_failed(&path))
			mkdir(ferry_buf_cstr(&path), 0700);
		online_path_in(&path, on->o->dir, ONLINE_REVERSE_JOURNAL);
		rc = ferry_buf_failed(&path)
		         ? ferry_error_oom(err)
		         : ferry_journal_open(&journal, ferry_buf_cstr(&path), NULL,
		                              err);
	}
	uint8_t *stored = NULL;
	size_t len = 0;
	if (rc == 0)
		rc = ferry_journal_capture_cursor(journal, &stored, &len, err);
	if (rc == 0 && len == 0) {
		uint64_t start = 0;
		uint8_t pos[FERRY_CAPTURE_POSITION_LEN];
		rc = rcops->stream_start(rcap, &start, err);
		ferry_capture_position_put(pos, start);
		if (rc == 0)
			rc = ferry_journal_commit(journal, pos, sizeof pos, err);
	}
	ferry_free(stored);
	if (rc == 0)
		rc = ferry_state_set(on->state, "reverse.id", ferry_buf_cstr(&rid),
		                     err);
	if (rc == 0)
		rc = ferry_state_unset(on->state, "reverse.none", err);
	for (const char *line = ferry_buf_cstr(&report); rc == 0 && line &&
	                                                 *line;) {
		const char *nl = strchr(line, '\n');
		int n = nl ? (int)(nl - line) : (int)strlen(line);
		online_say(on, "  %.*s", n, line);
		line = nl ? nl + 1 : line + n;
	}
	ferry_journal_close(journal);
	ferry_buf_free(&path);
	rcops->close(rcap);
	ferry_free(carried.tables); /* the tables belong to live */
	ferry_schema_free(&live);
	ferry_free(installed);
	ferry_buf_free(&rid);
	ferry_buf_free(&report);
	return rc;
}

/*
 * Takes the reverse stream away: its capture on the target (and a fence
 * there), its checkpoint in the source, its journal, its settings.
 * old_source and new_primary are the migration's source and target.
 * Every part is idempotent; report gets what was removed (may be NULL).
 * forget: also the setting saying there is one (a rollback forgets it
 * last, once the migration is no longer cut over).
 */
int online_reverse_teardown(online *on, const ferry_uri *old_source,
                            const ferry_uri *new_primary, bool forget,
                            ferry_buf *report, ferry_error *err)
{
	char *rid = NULL, *installed = NULL;
	int rc = ferry_state_get(on->state, "reverse.id", &rid, NULL);
	if (rc == FERRY_ENOTFOUND)
		return 0; /* none was set up */
	if (rc < 0)
		return ferry_error_oom(err);
	ferry_buf scratch = FERRY_BUF_INIT;
	ferry_buf *out = report ? report : &scratch;
	const ferry_capture_ops *rcops = ferry_capture_for(new_primary->kind);
	ferry_capture *rcap = NULL;
	rc = rcops ? rcops->open(&rcap, new_primary, err) : 0;
	if (rc == 0 && rcap) {
		int irc = rcops->installed(rcap, &installed, NULL);
		if (irc == 0 && strcmp(installed, rid) == 0)
			rc = rcops->remove(rcap, out, err);
		else if (irc == FERRY_ENOMEM)
			rc = ferry_error_oom(err);
	}
	if (rcops)
		rcops->close(rcap);
	const ferry_target_ops *tops = ferry_target_for(old_source->kind);
	ferry_target *old = NULL;
	if (rc == 0 && tops) {
		rc = tops->open(&old, old_source, err);
		if (rc == 0)
			rc = tops->checkpoint_drop(old, rid, err);
		if (rc == 0)
			ferry_buf_printf(out, "removed the reverse stream's checkpoint "
			                 "from %s\n", old_source->redacted);
		if (old)
			tops->close(old);
	}
	if (rc == 0)
		remove_reverse_journal(on->o->dir);
	if (rc == 0 && forget)
		rc = ferry_state_unset(on->state, "reverse.id", err);
	ferry_buf_free(&scratch);
	ferry_free(installed);
	ferry_free(rid);
	return rc;
}

/*
 * Takes away a fence the target kept since a rollback (it refused the
 * application's stray writes while it was a copy again): from the
 * switch on the application writes there.  Said when there was one.
 */
int online_unfence_target(online *on, const ferry_uri *target,
                          ferry_buf *out, ferry_error *err)
{
	const ferry_capture_ops *tcops = ferry_capture_for(target->kind);
	ferry_capture *tcap = NULL;
	ferry_buf report = FERRY_BUF_INIT;
	if (!tcops || !tcops->unfence)
		return 0;
	int rc = tcops->open(&tcap, target, err);
	if (rc == 0)
		rc = tcops->unfence(tcap, &report, err);
	if (rc == 0 && report.len && out)
		ferry_buf_puts(out, ferry_buf_cstr(&report));
	else if (rc == 0 && report.len)
		online_say(on, "unfenced %s (fenced since a rollback)",
		           target->redacted);
	tcops->close(tcap);
	ferry_buf_free(&report);
	return rc;
}

/* ---- cutover ----------------------------------------------------------- */

static int set_step(online *on, const char *key, const char *step,
                    ferry_error *err)
{
	return ferry_state_set(on->state, key, step, err);
}

/* Takes the fence away after a failure before the switch, and the
 * reverse stream's capture with it (a slot nobody reads fills the
 * target's disk); the error says whether the source is writable again. */
static int unfence_after(online *on, int rc, ferry_error *err)
{
	ferry_error undo = FERRY_ERROR_INIT;
	char *cause = ferry_strdup(ferry_error_message(err));
	int urc = on->cops->unfence(on->cap, NULL, &undo);
	if (urc == 0)
		urc = set_step(on, "cutover.step", "", &undo);
	if (urc == 0)
		ferry_error_set(err, rc, "%s; the cutover stopped and the source "
		                "was unfenced: the application can write to it "
		                "again", cause ? cause : "");
	else
		ferry_error_set(err, rc, "%s; the cutover stopped, and the source "
		                "is STILL FENCED (%s): run ferry cutover --abort",
		                cause ? cause : "", ferry_error_message(&undo));
	ferry_error_clear(&undo);
	if (urc == 0 &&
	    online_reverse_teardown(on, &on->src_uri, &on->dst_uri, true, NULL,
	                     &undo) < 0)
		online_say(on, "warning: the reverse stream's capture on the "
		           "target could not be removed (%s): ferry cutover "
		           "--abort tries again", ferry_error_message(&undo));
	ferry_free(cause);
	ferry_error_clear(&undo);
	return rc;
}

/* A failure setting up the reverse stream, before the fence: what was
 * installed of it is taken away again. */
static int not_fenced_after(online *on, ferry_error *err)
{
	ferry_error undo = FERRY_ERROR_INIT;
	if (set_step(on, "cutover.step", "", &undo) < 0 ||
	    online_reverse_teardown(on, &on->src_uri, &on->dst_uri, true, NULL,
	                     &undo) < 0)
		online_say(on, "warning: the reverse stream's capture on the "
		           "target could not be removed (%s): ferry cutover "
		           "--abort tries again", ferry_error_message(&undo));
	ferry_error_clear(&undo);
	return ferry_error_prefix(err, "the cutover stopped before fencing the "
	                          "source");
}

static int cutover_abort(online *on, ferry_error *err)
{
	char *step = get_or_empty(on, "cutover.step");
	if (!step)
		return ferry_error_oom(err);
	bool done = strcmp(step, "cut-over") == 0;
	ferry_free(step);
	if (done)
		return ferry_error_set(err, FERRY_EINVAL, "the cutover is done: "
		                       "the application writes to the target now; "
		                       "ferry rollback is the way back");
	ferry_buf report = FERRY_BUF_INIT;
	int rc = on->cops->unfence(on->cap, &report, err);
	size_t fence_lines = report.len;
	if (rc == 0)
		rc = set_step(on, "cutover.step", "", err);
	if (rc == 0)
		rc = online_reverse_teardown(on, &on->src_uri, &on->dst_uri, true,
		                      &report, err);
	if (rc == 0)
		online_say(on, "cutover aborted: the source is not fenced%s%s",
		           fence_lines ? " (fence removed)" : "",
		           report.len > fence_lines ? "; the reverse stream's "
		           "capture on the target was removed" : "");
	ferry_buf_free(&report);
	return rc;
}

/* The steps before the fence: catch up, then the reverse stream's
 * capture.  A cutover killed here had not fenced: it starts over. */
static int before_fence(online *on, const ferry_cutover_options *co,
                        int64_t deadline, ferry_error *err)
{
	int64_t t0 = ferry_now_us();
	double lag = 0;
	int rc = set_step(on, "cutover.step", "catch-up", err);
	if (rc == 0)
		rc = online_catch_up(on, co->max_lag_s, &lag, err);
	if (rc == 0 && past(deadline))
		rc = ferry_error_set(err, FERRY_ERROR, "the cutover timed out "
		                     "catching up (--timeout %g s)", co->timeout_s);
	if (rc == 0 && online_stopped(on))
		rc = ferry_error_set(err, FERRY_ERROR, "the cutover was "
		                     "interrupted while catching up; the source "
		                     "was not fenced");
	if (rc < 0)
		return rc;
	online_say(on, "catch-up  %8.3f s  lag at most %.3f s (--max-lag %g)",
	           seconds_since(t0), lag, co->max_lag_s);
	ferry_test_crash_point("catch-up");
	return 0;
}

/* The reverse stream's capture, or the reason there is none. */
static int prepare_reverse(online *on, const ferry_cutover_options *co,
                           ferry_error *err)
{
	int64_t t0 = ferry_now_us();
	char *why = NULL;
	int rc = co->no_reverse ? 0 : reverse_refusal(on, &why, err);
	if (rc < 0)
		return rc;
	if (co->no_reverse || why) {
		const char *reason = why ? why : "the cutover was run with "
		                                 "--no-rollback";
		rc = ferry_state_set(on->state, "reverse.none", reason, err);
		if (rc == 0)
			rc = online_reverse_teardown(on, &on->src_uri, &on->dst_uri, true,
			                      NULL, err);
		if (rc == 0)
			online_say(on, "reverse   %8.3f s  none: %s; the target's "
			           "writes will not flow back", seconds_since(t0),
			           reason);
		ferry_free(why);
		return rc;
	}
	rc = set_step(on, "cutover.step", "reverse", err);
	if (rc == 0)
		rc = reverse_install(on, err);
	if (rc == 0)
		online_say(on, "reverse   %8.3f s  capture installed on the "
		           "target: its writes after the switch flow back to "
		           "the source", seconds_since(t0));
	if (rc == 0)
		ferry_test_crash_point("reverse");
	return rc;
}

static int cutover_run(online *on, const ferry_cutover_options *co,
                       ferry_error *err)
{
	if (!on->cops->fence)
		return ferry_error_set(err, FERRY_EUNSUPPORTED, "cannot fence a "
		                       "%s source yet: cutover needs a write fence",
		                       ferry_uri_kind_name(on->src_uri.kind));
	char *step = get_or_empty(on, "cutover.step");
	if (!step)
		return ferry_error_oom(err);
	if (strcmp(step, "cut-over") == 0) {
		ferry_free(step);
		return ferry_error_set(err, FERRY_EINVAL, "the cutover is done "
		                       "already: the application writes to the "
		                       "target; ferry rollback is the way back");
	}
	/* killed before the fence: start over; after it: fence again and go
	 * on; killed in the switch: verify passed and the hook may have run,
	 * so the target may hold the application's writes: run the hook
	 * again, do not compare */
	bool resumed = *step && strcmp(step, "catch-up") != 0 &&
	               strcmp(step, "reverse") != 0;
	bool in_switch = strcmp(step, "switch") == 0;
	ferry_free(step);
	int64_t deadline = co->timeout_s > 0
	                       ? ferry_now_us() + (int64_t)(co->timeout_s * 1e6)
	                       : 0;
	on->deadline_us = deadline; /* passes stop there too */
	int rc = 0;
	if (resumed)
		online_say(on, "resuming a cutover that did not finish: fencing "
		           "again%s", in_switch ? " and running the hook again"
		                                : " and draining");
	else
		rc = before_fence(on, co, deadline, err);
	if (rc < 0)
		return rc;
	if (!resumed && prepare_reverse(on, co, err) < 0)
		return not_fenced_after(on, err);

	int64_t t0 = ferry_now_us();
	ferry_buf message = FERRY_BUF_INIT;
	ferry_buf_printf(&message, "migration %s is cutting over to %s: write "
	                 "to the new database", on->id, on->dst_uri.redacted);
	if (!resumed)
		rc = set_step(on, "cutover.step", "fence", err);
	if (rc == 0)
		rc = ferry_buf_cstr(&message)
		         ? on->cops->fence(on->cap, ferry_buf_cstr(&message), err)
		         : ferry_error_oom(err);
	ferry_buf_free(&message);
	if (rc < 0)
		return unfence_after(on, rc, err);
	int64_t fenced_at = ferry_now_us();
	online_say(on, "fence     %8.3f s  the source refuses the "
	           "application's writes", seconds_since(t0));
	ferry_test_crash_point("fence");

	if (!in_switch) {
		t0 = ferry_now_us();
		rc = set_step(on, "cutover.step", "drain", err);
		if (rc == 0 && on->cops->read_barrier)
			rc = on->cops->read_barrier(on->cap, err);
		if (rc == 0)
			rc = online_run_passes(on, true, true, err);
		if (rc == 0 && past(deadline))
			rc = ferry_error_set(err, FERRY_ERROR, "the cutover timed out "
			                     "draining (--timeout %g s)", co->timeout_s);
		if (rc == 0 && online_stopped(on))
			rc = ferry_error_set(err, FERRY_ERROR, "the cutover was "
			                     "interrupted");
		if (rc < 0)
			return unfence_after(on, rc, err);
		online_say(on, "drain     %8.3f s  every change is applied",
		           seconds_since(t0));
		ferry_test_crash_point("drain");

		t0 = ferry_now_us();
		int64_t rows = 0;
		rc = set_step(on, "cutover.step", "verify", err);
		if (rc == 0)
			rc = verify_equal(on, &rows, err);
		if (rc < 0)
			return unfence_after(on, rc, err);
		online_say(on, "verify    %8.3f s  %lld rows equal on both sides",
		           seconds_since(t0), (long long)rows);
		ferry_test_crash_point("verify");
	}

	t0 = ferry_now_us();
	hook_env env = {"cutover", on->src_uri.redacted, on->dst_uri.redacted};
	rc = set_step(on, "cutover.step", "switch", err);
	if (rc == 0)
		rc = online_unfence_target(on, &on->dst_uri, NULL, err);
	if (rc == 0 && co->hook)
		rc = run_hook(on, co->hook, &env, err);
	if (rc == 0 && past(deadline))
		rc = ferry_error_set(err, FERRY_ERROR, "the cutover timed out "
		                     "in the hook (--timeout %g s)", co->timeout_s);
	if (rc < 0)
		return unfence_after(on, rc, err);
	online_say(on, "switch    %8.3f s  %s", seconds_since(t0),
	           co->hook ? "the hook succeeded" : "no --hook: switch the "
	           "application to the target yourself now");
	ferry_test_crash_point("switch");

	char held[64], at[32];
	snprintf(held, sizeof held, "%.3f", seconds_since(fenced_at));
	snprintf(at, sizeof at, "%lld", (long long)(ferry_now_us() / 1000000));
	rc = ferry_state_set(on->state, "cutover.fence_held_s", held, err);
	if (rc == 0)
		rc = ferry_state_set(on->state, "cutover.at", at, err);
	if (rc == 0)
		rc = set_step(on, "cutover.step", "cut-over", err);
	char *none = NULL;
	if (rc == 0)
		ferry_state_get(on->state, "reverse.none", &none, NULL);
	if (rc == 0)
		online_say(on, "cut over: the target is the primary; the source "
		           "stays fenced (held %s s%s before the switch); %s", held,
		           resumed ? " in this run" : "",
		           none ? "no reverse stream, ferry rollback will refuse"
		                : "ferry sync --follow carries the target's "
		                  "writes back to the source until ferry rollback "
		                  "or ferry clean");
	ferry_free(none);
	return rc;
}

int ferry_online_cutover(const ferry_online_options *o,
                         const ferry_cutover_options *co,
                         ferry_online_counts *c, ferry_error *err)
{
	online on;
	int rc = online_start(&on, o, c, "cutover", ONLINE_FORWARD, err);
	if (rc == 0)
		rc = online_need_streaming(&on, err);
	if (rc == 0)
		rc = co->abort ? cutover_abort(&on, err) : cutover_run(&on, co, err);
	return online_finish(&on, rc);
}

/* ---- rollback ----------------------------------------------------------- */

/* The old source's capture connection, for its fence. */
static int unfence_old_source(online *rev, ferry_buf *report,
                              ferry_error *err)
{
	const ferry_capture_ops *fcops = ferry_capture_for(rev->dst_uri.kind);
	ferry_capture *fcap = NULL;
	int rc = fcops->open(&fcap, &rev->dst_uri, err);
	if (rc == 0)
		rc = fcops->unfence(fcap, report, err);
	fcops->close(fcap);
	return rc;
}

/* After the switch back: the source takes writes again, the reverse
 * stream is taken away, and the migration runs forward as before the
 * cutover (its capture on the source never stopped). */
static int rollback_finish(online *rev, ferry_error *err)
{
	ferry_buf report = FERRY_BUF_INIT;
	int rc = set_step(rev, "rollback.step", "unfence", err);
	if (rc == 0)
		rc = unfence_old_source(rev, &report, err);
	if (rc == 0) {
		online_say(rev, "unfence: the source takes the application's "
		           "writes again");
		ferry_test_crash_point("unfence");
		/* the reverse stream's connections let go of its capture */
		ferry_journal_close(rev->journal);
		rev->journal = NULL;
		rev->cops->close(rev->cap);
		rev->cap = NULL;
		rev->tops->close(rev->dst); /* it holds the reverse origin */
		rev->dst = NULL;
		rc = online_reverse_teardown(rev, &rev->dst_uri, &rev->src_uri, false,
		                      &report, err);
	}
	char at[32];
	snprintf(at, sizeof at, "%lld", (long long)(ferry_now_us() / 1000000));
	if (rc == 0)
		rc = ferry_state_set(rev->state, "rollback.at", at, err);
	if (rc == 0)
		rc = set_step(rev, "cutover.step", "", err);
	if (rc == 0)
		rc = set_step(rev, "rollback.step", "", err);
	if (rc == 0)
		rc = ferry_state_unset(rev->state, "reverse.id", err);
	if (rc == 0)
		online_say(rev, "rolled back: the source is the primary again; "
		           "ferry sync carries its writes to the target as before "
		           "the cutover; the target stays fenced until a later "
		           "ferry cutover (or ferry clean)");
	ferry_buf_free(&report);
	return rc;
}

/* Takes the target's fence away after a failure before the switch back:
 * the application goes on writing to the target. */
static int unfence_target_after(online *rev, int rc, ferry_error *err)
{
	ferry_error undo = FERRY_ERROR_INIT;
	char *cause = ferry_strdup(ferry_error_message(err));
	int urc = rev->cops->unfence(rev->cap, NULL, &undo);
	if (urc == 0)
		urc = set_step(rev, "rollback.step", "", &undo);
	if (urc == 0)
		ferry_error_set(err, rc, "%s; the rollback stopped and the target "
		                "was unfenced: the application can write to it "
		                "again", cause ? cause : "");
	else
		ferry_error_set(err, rc, "%s; the rollback stopped, and the target "
		                "is STILL FENCED (%s): run ferry rollback --abort",
		                cause ? cause : "", ferry_error_message(&undo));
	ferry_free(cause);
	ferry_error_clear(&undo);
	return rc;
}

static int rollback_abort(online *rev, ferry_error *err)
{
	ferry_buf report = FERRY_BUF_INIT;
	int rc = rev->cops->unfence(rev->cap, &report, err);
	if (rc == 0)
		rc = set_step(rev, "rollback.step", "", err);
	if (rc == 0)
		online_say(rev, "rollback aborted: the target is not fenced%s; the "
		           "reverse stream goes on", report.len ? " (fence removed)"
		                                                : "");
	ferry_buf_free(&report);
	return rc;
}

static int rollback_run(online *rev, const ferry_cutover_options *co,
                        ferry_error *err)
{
	if (!rev->cops->fence)
		return ferry_error_set(err, FERRY_EUNSUPPORTED, "cannot fence a "
		                       "%s database yet: rollback needs a write "
		                       "fence on the target",
		                       ferry_uri_kind_name(rev->src_uri.kind));
	char *step = get_or_empty(rev, "rollback.step");
	if (!step)
		return ferry_error_oom(err);
	bool resumed = *step && strcmp(step, "catch-up") != 0;
	bool in_switch = strcmp(step, "switch") == 0;
	bool finishing = strcmp(step, "unfence") == 0;
	ferry_free(step);
	if (finishing)
		return rollback_finish(rev, err);
	int64_t deadline = co->timeout_s > 0
	                       ? ferry_now_us() + (int64_t)(co->timeout_s * 1e6)
	                       : 0;
	rev->deadline_us = deadline;
	int64_t t0 = ferry_now_us();
	int rc = 0;
	if (resumed) {
		online_say(rev, "resuming a rollback that did not finish: fencing "
		           "the target again");
	} else {
		double lag = 0;
		rc = set_step(rev, "rollback.step", "catch-up", err);
		if (rc == 0)
			rc = online_catch_up(rev, co->max_lag_s, &lag, err);
		if (rc == 0 && (online_stopped(rev) || past(deadline)))
			rc = ferry_error_set(err, FERRY_ERROR, "the rollback %s while "
			                     "catching up; the target was not fenced",
			                     past(deadline) ? "timed out"
			                                    : "was interrupted");
		if (rc < 0)
			return rc;
		online_say(rev, "catch-up  %8.3f s  lag at most %.3f s (--max-lag "
		           "%g)", seconds_since(t0), lag, co->max_lag_s);
		ferry_test_crash_point("catch-up");
	}

	t0 = ferry_now_us();
	ferry_buf message = FERRY_BUF_INIT;
	ferry_buf_printf(&message, "migration %s is rolling back to %s: write "
	                 "to the old database", rev->forward_id,
	                 rev->dst_uri.redacted);
	if (!resumed)
		rc = set_step(rev, "rollback.step", "fence", err);
	if (rc == 0)
		rc = ferry_buf_cstr(&message)
		         ? rev->cops->fence(rev->cap, ferry_buf_cstr(&message), err)
		         : ferry_error_oom(err);
	ferry_buf_free(&message);
	if (rc < 0)
		return unfence_target_after(rev, rc, err);
	int64_t fenced_at = ferry_now_us();
	online_say(rev, "fence     %8.3f s  the target refuses the "
	           "application's writes", seconds_since(t0));
	ferry_test_crash_point("fence");

	if (!in_switch) {
		t0 = ferry_now_us();
		rc = set_step(rev, "rollback.step", "drain", err);
		if (rc == 0 && rev->cops->read_barrier)
			rc = rev->cops->read_barrier(rev->cap, err);
		if (rc == 0)
			rc = online_run_passes(rev, true, true, err);
		if (rc == 0 && (online_stopped(rev) || past(deadline)))
			rc = ferry_error_set(err, FERRY_ERROR, "the rollback %s "
			                     "draining", past(deadline)
			                     ? "timed out" : "was interrupted");
		if (rc < 0)
			return unfence_target_after(rev, rc, err);
		online_say(rev, "drain     %8.3f s  every change is back in the "
		           "source", seconds_since(t0));
		ferry_test_crash_point("drain");

		t0 = ferry_now_us();
		int64_t rows = 0;
		rc = set_step(rev, "rollback.step", "verify", err);
		if (rc == 0)
			rc = verify_equal(rev, &rows, err);
		if (rc < 0)
			return unfence_target_after(rev, rc, err);
		online_say(rev, "verify    %8.3f s  %lld rows equal on both sides",
		           seconds_since(t0), (long long)rows);
		ferry_test_crash_point("verify");
	}

	t0 = ferry_now_us();
	hook_env env = {"rollback", rev->dst_uri.redacted, rev->src_uri.redacted};
	rc = set_step(rev, "rollback.step", "switch", err);
	if (rc == 0 && co->hook)
		rc = run_hook(rev, co->hook, &env, err);
	if (rc == 0 && past(deadline))
		rc = ferry_error_set(err, FERRY_ERROR, "the rollback timed out in "
		                     "the hook (--timeout %g s)", co->timeout_s);
	if (rc < 0)
		return unfence_target_after(rev, rc, err);
	online_say(rev, "switch    %8.3f s  %s", seconds_since(t0),
	           co->hook ? "the hook succeeded" : "no --hook: switch the "
	           "application back to the source yourself now");
	ferry_test_crash_point("switch");
	char held[64];
	snprintf(held, sizeof held, "%.3f", seconds_since(fenced_at));
	rc = ferry_state_set(rev->state, "rollback.fence_held_s", held, err);
	if (rc == 0)
		online_say(rev, "the target was fenced for %s s before the switch",
		           held);
	return rc == 0 ? rollback_finish(rev, err) : rc;
}

/* Refuses a rollback that cannot be, before anything is touched. */
static int rollback_possible(const char *dir, ferry_error *err)
{
	ferry_migration_settings m;
	ferry_state *st = NULL;
	char *step = NULL, *none = NULL, *rid = NULL;
	int rc = ferry_state_open_migration(dir, &st, &m, err);
	if (rc == 0 && (ferry_state_get(st, "cutover.step", &step, NULL) < 0 ||
	                strcmp(step, "cut-over") != 0))
		rc = ferry_error_set(err, FERRY_EINVAL, "there is nothing to roll "
		                     "back: the migration is not cut over (ferry "
		                     "cutover --abort abandons a cutover in "
		                     "progress)");
	if (rc == 0 && ferry_state_get(st, "reverse.id", &rid, NULL) < 0) {
		ferry_state_get(st, "reverse.none", &none, NULL);
		rc = ferry_error_set(err, FERRY_EINVAL, "%s%s",
		                     none && strncmp(none, "rollback", 8) == 0
		                         ? "" : "rollback is not possible: ",
		                     none ? none : "the cutover set up no reverse "
		                                   "stream");
	}
	ferry_free(step);
	ferry_free(none);
	ferry_free(rid);
	ferry_free(m.id);
	ferry_free(m.source);
	ferry_free(m.target);
	ferry_free(m.spec);
	ferry_state_close(st);
	return rc;
}

int ferry_online_rollback(const ferry_online_options *o,
                          const ferry_cutover_options *co,
                          ferry_online_counts *c, ferry_error *err)
{
	memset(c, 0, sizeof *c);
	int rc = rollback_possible(o->dir, err);
	if (rc < 0)
		return rc;
	online rev;
	rc = online_start(&rev, o, c, "rollback", ONLINE_REVERSE, err);
	if (rc == 0)
		rc = co->abort ? rollback_abort(&rev, err)
		               : rollback_run(&rev, co, err);
	return online_finish(&rev, rc);
}
