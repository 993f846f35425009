import { useEffect, useMemo } from "react";
import { MainLift } from "../gen/ironpath/common/v1/training_pb";
import { CheckInRecommendation, type CheckIn } from "../gen/ironpath/feedback/v1/feedback_pb";
import { completionByWeek, shownLogs, totalsOf } from "../overlay";
import { app, useApp } from "../store";
import { toUnit, weight } from "../units";
import { BarChart, LineChart } from "./Charts";
import { Badge, daysAgo, enumLabel, Screen, today, unitOf } from "./common";

function CheckInCard({ c, unit: _unit }: { c: CheckIn; unit: string }) {
  const tone = c.recommendation === CheckInRecommendation.PROGRESS ? "ok" : c.recommendation === CheckInRecommendation.DELOAD ? "warn" : "info";
  return (
    <li className="checkin">
      <p>
        <strong>
          {c.periodStartDate} – {c.periodEndDate}
        </strong>{" "}
        <Badge tone={tone}>{enumLabel(CheckInRecommendation, c.recommendation)}</Badge>
      </p>
      <p>
        {c.sessionsCompleted} of {c.sessionsPlanned} sessions ({Math.round(c.adherenceRate * 100)}% adherence)
        {c.averageRpe ? ` · average RPE ${Math.round(c.averageRpe * 10) / 10}` : ""}
      </p>
      {c.reason && <p className="hint">{c.reason}</p>}
    </li>
  );
}

export function ProgressScreen({ programId }: { programId: string }) {
  const s = useApp();
  useEffect(() => {
    if (programId) void app.openProgram(programId);
  }, [programId]);
  useEffect(() => {
    if (programId && s.programId === programId && s.programStatus === "loaded") void app.refreshAnalytics(programId);
  }, [programId, s.programId, s.programStatus]);
  const program = s.programId === programId ? s.program : null;
  const unit = unitOf(s.analytics?.displayUnit || program?.displayUnit);
  const shown = useMemo(
    () => (program ? shownLogs(programId, program.programWeeks, s.progress?.logs ?? [], s.pending) : []),
    [program, programId, s.progress, s.pending],
  );

  if (s.programId === programId && s.programStatus === "notFound") {
    return (
      <Screen title="Program not found">
        <p data-testid="not-found">There is no program at this address that you can see.</p>
      </Screen>
    );
  }
  if (!program) {
    return (
      <Screen title="Progress">
        <p className="empty">Loading…</p>
      </Screen>
    );
  }
  const totals = totalsOf(shown);
  const weeks = completionByWeek(shown);
  const checkInWaiting = s.pending.some((a) => a.kind === "performCheckIn" && a.userId === s.identity?.userId);
  const analytics = s.analytics;

  return (
    <Screen title="Progress">
      <p className="meta">{program.name}</p>
      <section className="panel" aria-labelledby="adherence-title">
        <h2 id="adherence-title">Adherence</h2>
        <p className="big" data-testid="completion">
          {totals.completedSessions} of {totals.plannedSessions} sessions completed ({Math.round(totals.completionRate * 100)}%)
          {totals.skippedSessions ? `, ${totals.skippedSessions} skipped` : ""}
        </p>
        <BarChart
          title="Sessions completed by week"
          unit="sessions"
          max={Math.max(1, ...weeks.map((w) => w.planned))}
          points={weeks.map((w) => ({ label: `W${w.week}`, value: w.completed }))}
        />
      </section>

      <section className="panel" aria-labelledby="checkin-title">
        <h2 id="checkin-title">Check-ins</h2>
        <p>A check-in reads your logged sessions of the last 7 days and recommends what to do next.</p>
        <button
          type="button"
          disabled={checkInWaiting}
          onClick={() => void app.performCheckIn({ programId, periodStartDate: daysAgo(6), periodEndDate: today() })}
        >
          {checkInWaiting ? "Checking in…" : "Check in now"}
        </button>
        {s.lastCheckIn && (
          <div data-testid="checkin-result" className="result">
            <h3>Latest</h3>
            <ul className="plain">
              <CheckInCard c={s.lastCheckIn} unit={unit} />
            </ul>
          </div>
        )}
        <h3>History</h3>
        {s.checkIns.length ? (
          <ul className="plain" data-testid="checkin-history">
            {s.checkIns.map((c) => (
              <CheckInCard key={c.checkInId} c={c} unit={unit} />
            ))}
          </ul>
        ) : (
          <p className="hint">No check-ins yet.</p>
        )}
      </section>

      <section className="panel" aria-labelledby="trends-title">
        <h2 id="trends-title">Trends</h2>
        {s.analyticsStatus === "unavailable" ? (
          <p data-testid="analytics-unavailable">Training analytics are not available yet.</p>
        ) : !analytics ? (
          <p className="hint">{s.analyticsStatus === "error" ? "Can't load the trends right now." : "Loading the trends…"}</p>
        ) : (
          <div data-testid="analytics">
            <p>
              Adherence by week, estimated maxes and volume, from your logged sets.
              {analytics.currentStreakWeeks ? ` Current streak: ${analytics.currentStreakWeeks} week(s).` : ""}
              {analytics.averageReportedRpe ? ` Reported RPE ${analytics.rpeDrift >= 0 ? "+" : ""}${Math.round(analytics.rpeDrift * 10) / 10} against targets.` : ""}
            </p>
            {analytics.lifts
              .filter((l) => l.e1rmTrend.length)
              .map((l) => (
                <LineChart
                  key={l.mainLift}
                  title={`${enumLabel(MainLift, l.mainLift)}: estimated 1RM (best ${weight(l.bestE1rmKg, unit)})`}
                  unit={unit}
                  points={l.e1rmTrend.map((p) => ({ label: p.date, value: toUnit(p.e1rmKg, unit) }))}
                />
              ))}
            {!analytics.lifts.some((l) => l.e1rmTrend.length) && <p className="hint">Estimated maxes appear once you log main-lift sets.</p>}
            <BarChart
              title={`Weekly volume (${unit} lifted)`}
              unit={unit}
              points={analytics.weeks.map((w) => ({ label: w.weekNumber ? `W${w.weekNumber}` : w.weekStartDate.slice(5), value: toUnit(w.tonnageKg, unit) }))}
            />
            <BarChart
              title="Hard sets per week"
              unit="sets"
              points={analytics.weeks.map((w) => ({ label: w.weekNumber ? `W${w.weekNumber}` : w.weekStartDate.slice(5), value: w.hardSets }))}
            />
            {analytics.personalRecords.length > 0 && (
              <>
                <h3>Records</h3>
                <ul>
                  {analytics.personalRecords.map((r, i) => (
                    <li key={i}>
                      {enumLabel(MainLift, r.mainLift)} · {r.kind.replace(/_/g, " ")}: {r.kind === "reps_at_load" ? r.value : weight(r.value, unit)} on {r.date}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </div>
        )}
      </section>
    </Screen>
  );
}
