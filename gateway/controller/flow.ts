/**
 * Flow estimate and cut-off prediction. At 10 Hz a sample comes every 100 ms,
 * while 20 g at 30 kg/min pass in 40 ms: waiting for the sample that crosses
 * the cut-off would overshoot by up to a whole poll period. So the crossing
 * time is predicted from a least-squares line through the recent samples and
 * the runtime is asked to tick the controller at that moment.
 */

export interface Point {
  /** Monotonic ms. */
  t: number;
  /** Gross kg. */
  g: number;
}

export interface Line {
  /** kg per ms. */
  slope: number;
  /** Fitted gross at time t. */
  at(t: number): number;
}

/** Ordinary least squares; undefined with fewer than 3 points or no time spread. */
export function fitLine(points: readonly Point[]): Line | undefined {
  const n = points.length;
  if (n < 3) return undefined;
  // Times relative to the last point keep the sums small and exact enough.
  const t0 = points[n - 1].t;
  let st = 0;
  let sg = 0;
  let stt = 0;
  let stg = 0;
  for (const p of points) {
    const t = p.t - t0;
    st += t;
    sg += p.g;
    stt += t * t;
    stg += t * p.g;
  }
  const den = n * stt - st * st;
  if (!(den > 0)) return undefined;
  const slope = (n * stg - st * sg) / den;
  const intercept = (sg - slope * st) / n;
  return { slope, at: (t: number) => intercept + slope * (t - t0) };
}

/**
 * When the fitted line reaches `level`. Undefined when the weight is not
 * rising by at least minSlope (kg/ms): then only the samples themselves cut off.
 */
export function predictCrossing(points: readonly Point[], level: number, minSlope: number): number | undefined {
  const line = fitLine(points);
  if (!line || !(line.slope > minSlope)) return undefined;
  const tLast = points[points.length - 1].t;
  return tLast + (level - line.at(tLast)) / line.slope;
}

/** Keep the points of the last windowMs (and at most maxPoints), oldest first; a point not newer than the last is dropped. */
export function pushWindow(points: readonly Point[], p: Point, windowMs: number, maxPoints = 200): Point[] {
  const n = points.length;
  if (n > 0 && !(p.t > points[n - 1].t)) return points.slice();
  let first = 0;
  while (first < n && (points[first].t <= p.t - windowMs || n - first >= maxPoints)) first++;
  const out = points.slice(first);
  out.push(p);
  return out;
}
