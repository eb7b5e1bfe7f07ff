#!/usr/bin/env python3
"""Run nirf-margin on a probe draw and score it against the probe's truth.

    python score.py DIR --out RESULTS_DIR [--bin PATH] [--jobs 2] [--reuse] [--no-wait]

Survey scenes (DIR/sNNN/truth.json) are analysed with
    analyze --wl .. --nir .. --mm-per-px M --backend cpu --metrics R/runs/S.jsonl --masks R/runs/S-masks
and wound beds (DIR/bedNN/bed.json) with `--mode wound-bed`.  --reuse skips runs whose metrics
file already exists.  Writes RESULTS_DIR/results.json, RESULTS_DIR/misses.jsonl and
RESULTS_DIR/tables.txt (the printed tables).  Matching rules: see README.md.
"""
import argparse
import concurrent.futures as cf
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
from PIL import Image

DEFAULT_BIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'target', 'release', 'nirf-margin')
KIND_MAP = {'rim': 'rim', 'homogeneous': 'homogeneous', 'deep': 'diffuse'}
RIM_COMPLETE = 0.97          # the tool's own "incomplete" threshold (README)


# ----------------------------------------------------------------------------- running

def wait_for_binary(path, wait):
    while not (os.path.isfile(path) and os.access(path, os.X_OK)):
        if not wait:
            sys.exit('binary %s not found' % path)
        print('waiting for %s ...' % path, flush=True)
        time.sleep(60)


def run_one(binp, scene_dir, name, kind, mmpp, rdir, reuse):
    runs = os.path.join(rdir, 'runs')
    met = os.path.join(runs, name + '.jsonl')
    log = os.path.join(runs, name + '.log')
    masks = os.path.join(runs, name + '-masks')
    if reuse and os.path.exists(met):
        return name, 0, 0.0
    for p in (met,):
        if os.path.exists(p):
            os.remove(p)
    if os.path.isdir(masks):
        shutil.rmtree(masks)            # our own output folder from an earlier run
    cmd = ['nice', '-n', '10', binp, 'analyze',
           '--wl', os.path.join(scene_dir, 'wl', '%05d.png'),
           '--nir', os.path.join(scene_dir, 'nir', '%05d.png'),
           '--mm-per-px', '%.6f' % mmpp, '--backend', 'cpu', '--metrics', met]
    if kind == 'survey':
        cmd += ['--masks', masks]
    else:
        cmd += ['--mode', 'wound-bed']
    t0 = time.time()
    with open(log, 'w') as fh:
        fh.write(' '.join(cmd) + '\n')
        fh.flush()
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT).returncode
    return name, rc, time.time() - t0


def read_jsonl(p):
    out = {}
    if not os.path.exists(p):
        return out
    with open(p) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                o = json.loads(line)
            except json.JSONDecodeError:
                continue
            out[int(o.get('frame', len(out)))] = o
    return out


# ----------------------------------------------------------------------------- conditions

def band(v, edges, labels):
    for e, l in zip(edges, labels):
        if v < e:
            return l
    return labels[-1]


def scene_conditions(t):
    c = t['conditions']
    return {
        'texture_model': c['texture_model'],
        'texture_band': band(c['texture_pct'], [10, 18, 1e9], ['05-10%', '10-18%', '18-25%']),
        'grain_band': band(c['grain_mm'], [2, 3.5, 1e9], ['1-2mm', '2-3.5mm', '3.5-5mm']),
        'scatter': 'on' if c['scatter'] > 0 else 'off',
        'blur': 'on' if c['motion_blur_px'] > 0 else 'off',
        'haze': 'on' if c['haze'] > 0 else 'off',
        'size': '%dx%d' % tuple(t['size']),
        'scale_band': band(t['mm_per_px'], [0.07, 0.10, 1e9], ['0.04-0.07', '0.07-0.10', '0.10-0.15']),
        'gain_band': band(c['gain'], [1.5, 2.0, 1e9], ['1.0-1.5', '1.5-2.0', '2.0-2.5']),
        'instruments': 'yes' if c.get('n_instruments', 0) else 'no',
    }


def compact_conditions(t):
    c = t['conditions']
    return {k: (round(c[k], 3) if isinstance(c.get(k), float) else c.get(k)) for k in
            ['texture_model', 'texture_pct', 'texture_pct_actual', 'grain_mm', 'texture_mix', 'scatter',
             'scatter_width_mm', 'motion_blur_px', 'psf_sigma_px', 'haze', 'gain', 'bg_counts',
             'vignetting', 'n_ducts', 'n_veins', 'n_instruments', 'n_glints', 'n_nir_glints']} | {
        'texture_secondary': [x['model'] for x in c['texture_components'][1:]],
        'mm_per_px': round(t['mm_per_px'], 4), 'size': t['size']}


def lesion_conditions(l):
    c = {}
    if l['kind'] == 'rim':
        c['rim'] = 'gapped' if l['gap_deg'] > 0 else 'complete'
        c['core_level_band'] = band(l['core_level'], [0.6, 0.85, 1e9], ['0.30-0.60', '0.60-0.85', '0.85-1.05'])
        c['rim_tbr_band'] = band(l['rim_tbr'], [2.5, 4.0, 1e9], ['1.6-2.5', '2.5-4.0', '4.0-6.0'])
        c['rim_thick_band'] = band(l['rim_thickness_median_mm'], [1.0, 2.0, 1e9], ['<1mm', '1-2mm', '>=2mm'])
        c['core_size_band'] = band(l['core_diameter_mm'], [6, 12, 1e9], ['3-6mm', '6-12mm', '12-30mm'])
        c['shape'] = l['shape']
    return c


# ----------------------------------------------------------------------------- matching

def match_radius_px(l, mmpp):
    if l['kind'] == 'deep':
        r_mm = max(2.0, l['sigma_mm'] * l.get('aspect', 1.0))
    else:
        r_mm = max(2.0, 0.6 * l['core_diameter_mm'] / 2)
    return r_mm / mmpp


def match_frame(truth_les, reports, mmpp):
    """Greedy one-to-one matching of compatible kinds by centroid distance.  Returns
    (pairs {truth_idx: report_idx}, report_status list)."""
    cands = []
    for i, l in enumerate(truth_les):
        R = match_radius_px(l, mmpp)
        for j, p in enumerate(reports):
            if p.get('partial'):
                continue
            if KIND_MAP[l['kind']] != p.get('kind'):
                continue
            d = math.hypot(p['centroid_px'][0] - l['centroid_px'][0], p['centroid_px'][1] - l['centroid_px'][1])
            if d <= R:
                cands.append((d, i, j))
    cands.sort()
    pairs, used_t, used_r = {}, set(), set()
    for d, i, j in cands:
        if i in used_t or j in used_r:
            continue
        pairs[i] = j
        used_t.add(i)
        used_r.add(j)
    status = []
    for j, p in enumerate(reports):
        if p.get('partial'):
            status.append(('partial', None))
            continue
        if j in used_r:
            i = [k for k, v in pairs.items() if v == j][0]
            status.append(('matched', i))
            continue
        # near any truth lesion of any kind?
        best = None
        for i, l in enumerate(truth_les):
            R = match_radius_px(l, mmpp)
            d = math.hypot(p['centroid_px'][0] - l['centroid_px'][0], p['centroid_px'][1] - l['centroid_px'][1])
            if d <= R and (best is None or d < best[0]):
                best = (d, i)
        if best is None:
            status.append(('false', None))
        elif KIND_MAP[truth_les[best[1]]['kind']] == p.get('kind'):
            status.append(('duplicate', best[1]))
        else:
            status.append(('wrong_kind', best[1]))
    return pairs, status


def nearest_report(l, reports):
    best = None
    for p in reports:
        d = math.hypot(p['centroid_px'][0] - l['centroid_px'][0], p['centroid_px'][1] - l['centroid_px'][1])
        if best is None or d < best[0]:
            best = (d, p)
    return best


# ----------------------------------------------------------------------------- aggregation

class Acc:
    def __init__(self):
        self.n = defaultdict(int)
        self.err = defaultdict(list)

    def add(self, k, v=1):
        self.n[k] += v

    def e(self, k, v):
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            self.err[k].append(v)

    def summary(self):
        n = self.n
        s = {}

        def frac(a, b):
            return (n[a] / n[b]) if n[b] else None
        s['rims_complete'] = n['rim_c']
        s['rims_gapped'] = n['rim_g']
        s['found_complete'] = frac('rim_c_found', 'rim_c')
        s['found_gapped'] = frac('rim_g_found', 'rim_g')
        s['found_rim_n'] = '%d/%d' % (n['rim_c_found'] + n['rim_g_found'], n['rim_c'] + n['rim_g'])
        s['rim_precision'] = frac('rim_rep_matched', 'rim_rep')
        s['rim_reports'] = n['rim_rep']
        s['frames'] = n['frames']
        s['false_per_frame'] = (n['false'] / n['frames']) if n['frames'] else None
        s['false_total'] = n['false']
        s['wrong_kind'] = n['wrong_kind']
        s['duplicates'] = n['duplicate']
        s['homogeneous_found'] = frac('hom_found', 'hom')
        s['homogeneous_n'] = n['hom']
        s['deep_found'] = frac('deep_found', 'deep')
        s['deep_n'] = n['deep']
        s['gap_flagged'] = frac('gap_flagged', 'rim_g_found')          # gapped rim reported < 0.97
        s['false_gap'] = frac('false_gap', 'rim_c_found')              # complete rim reported < 0.97
        s['wrong_kind_per_frame'] = (n['wrong_kind'] / n['frames']) if n['frames'] else None
        for k in ['core_d', 'hom_d', 'thick', 'thick_drawn', 'thick_margin', 'thin', 'cov', 'core_d_signed',
                  'thick_signed', 'thin_signed']:
            v = self.err[k]
            if k.endswith('signed'):
                s[k + '_mean'] = float(np.mean(v)) if v else None
            else:
                s[k + '_mae'] = float(np.mean(np.abs(v))) if v else None
            s[k + '_n'] = len(v)
        for c in ('core', 'rim'):
            tp, ps, ts = n['dice_%s_tp' % c], n['dice_%s_p' % c], n['dice_%s_t' % c]
            s['dice_' + c] = (2 * tp / (ps + ts)) if (ps + ts) else None
        s['bed_clean_frames'] = n['bed_clean']
        s['bed_clean_flagged'] = frac('bed_clean_flag', 'bed_clean')
        s['bed_spotted_frames'] = n['bed_spot']
        s['bed_spotted_flagged'] = frac('bed_spot_flag', 'bed_spot')
        s['bed_spots_found'] = frac('spot_found', 'spot')
        s['bed_clean_with_spots'] = frac('bed_clean_spots', 'bed_clean')
        s['bed_spotted_with_spots'] = frac('bed_spot_spots', 'bed_spot')
        return s


def fmt(v, pct=False, nd=2):
    if v is None:
        return '-'
    if pct:
        return '%3.0f%%' % (100 * v)
    if isinstance(v, int):
        return str(v)
    return ('%.' + str(nd) + 'f') % v


COLS = [('n_rim c/g', lambda s: '%d/%d' % (s['rims_complete'], s['rims_gapped'])),
        ('found c', lambda s: fmt(s['found_complete'], True)),
        ('found g', lambda s: fmt(s['found_gapped'], True)),
        ('rim prec', lambda s: fmt(s['rim_precision'], True)),
        ('FP/fr', lambda s: fmt(s['false_per_frame'])),
        ('WK/fr', lambda s: fmt(s['wrong_kind_per_frame'])),
        ('hom', lambda s: fmt(s['homogeneous_found'], True) + ('(%d)' % s['homogeneous_n'] if s['homogeneous_n'] else '')),
        ('deep', lambda s: fmt(s['deep_found'], True) + ('(%d)' % s['deep_n'] if s['deep_n'] else '')),
        ('D mae', lambda s: fmt(s['core_d_mae'])),
        ('t mae', lambda s: fmt(s['thick_mae'])),
        ('t bias', lambda s: fmt(s['thick_signed_mean'])),
        ('t_mrg mae', lambda s: fmt(s['thick_margin_mae'])),
        ('tmin mae', lambda s: fmt(s['thin_mae'])),
        ('tmin bias', lambda s: fmt(s['thin_signed_mean'])),
        ('cov mae', lambda s: fmt(s['cov_mae'], nd=3)),
        ('gapflag', lambda s: fmt(s['gap_flagged'], True)),
        ('falsegap', lambda s: fmt(s['false_gap'], True)),
        ('Dice core', lambda s: fmt(s['dice_core'])),
        ('Dice rim', lambda s: fmt(s['dice_rim']))]


def table(rows, title):
    head = ['condition', 'value'] + [c[0] for c in COLS]
    lines = [title]
    data = [head]
    for cond, val, s in rows:
        data.append([cond, val] + [f(s) for _, f in COLS])
    w = [max(len(r[i]) for r in data) for i in range(len(head))]
    for r in data:
        lines.append('  '.join(x.ljust(w[i]) if i < 2 else x.rjust(w[i]) for i, x in enumerate(r)))
    return '\n'.join(lines)


# ----------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('dir')
    ap.add_argument('--out', required=True)
    ap.add_argument('--bin', default=DEFAULT_BIN)
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--reuse', action='store_true', help='skip runs whose metrics file exists')
    ap.add_argument('--no-wait', action='store_true')
    ap.add_argument('--scenes', default=None, help='comma list to restrict to')
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, 'runs'), exist_ok=True)
    scenes = []
    for name in sorted(os.listdir(a.dir)):
        d = os.path.join(a.dir, name)
        if a.scenes and name not in a.scenes.split(','):
            continue
        if os.path.exists(os.path.join(d, 'truth.json')):
            scenes.append((name, 'survey', json.load(open(os.path.join(d, 'truth.json')))))
        elif os.path.exists(os.path.join(d, 'bed.json')):
            scenes.append((name, 'bed', json.load(open(os.path.join(d, 'bed.json')))))
    wait_for_binary(a.bin, not a.no_wait)
    t0 = time.time()
    rcs = {}
    with cf.ThreadPoolExecutor(max_workers=max(1, min(2, a.jobs))) as ex:
        futs = [ex.submit(run_one, a.bin, os.path.join(a.dir, n), n, k, t['mm_per_px'], a.out, a.reuse)
                for n, k, t in scenes]
        for f in cf.as_completed(futs):
            n, rc, dt = f.result()
            rcs[n] = rc
            if dt > 0:
                print('ran %-7s rc=%d %.1fs' % (n, rc, dt), flush=True)
    print('analyses done in %.0fs' % (time.time() - t0), flush=True)

    overall = Acc()
    by_cond = defaultdict(Acc)          # (cond, value) -> Acc
    per_scene = {}
    misses = []
    verdicts = defaultdict(int)
    met_all = {}
    scene_cond_keys = None
    for name, kind, t in scenes:
        met = read_jsonl(os.path.join(a.out, 'runs', name + '.jsonl'))
        met_all[name] = met
        sc = scene_conditions(t)
        scene_cond_keys = list(sc.keys())
        cc = compact_conditions(t)
        sacc = Acc()
        accs_scene = [overall, sacc] + [by_cond[(k, v)] for k, v in sc.items()]
        mmpp = t['mm_per_px']
        if rcs.get(name, 0) != 0:
            misses.append({'type': 'run_failed', 'scene': name, 'rc': rcs[name]})
        if kind == 'bed':
            for fr in t['frames']:
                m = met.get(fr['frame'], {})
                fnd = m.get('findings') or {}
                flag = bool(fnd.get('flag', False))
                spots_rep = fnd.get('spots') or []
                vis = [s for s in fr['spots'] if s['in_view']]
                if t['bed'] == 'clean':
                    for A in accs_scene:
                        A.add('bed_clean')
                        A.add('bed_clean_flag', int(flag))
                        A.add('bed_clean_spots', int(len(spots_rep) > 0))
                    if flag:
                        misses.append({'type': 'bed_clean_flagged', 'scene': name, 'frame': fr['frame'],
                                       'reported_spots': spots_rep, 'conditions': cc})
                elif vis:
                    for A in accs_scene:
                        A.add('bed_spot')
                        A.add('bed_spot_flag', int(flag))
                        A.add('bed_spot_spots', int(len(spots_rep) > 0))
                    for s in vis:
                        R = max(2.0, s['equiv_diameter_mm']) / mmpp
                        hit = any(math.hypot(p['centroid_px'][0] - s['centroid_px'][0],
                                             p['centroid_px'][1] - s['centroid_px'][1]) <= R for p in spots_rep)
                        for A in accs_scene:
                            A.add('spot')
                            A.add('spot_found', int(hit))
                        if not hit:
                            misses.append({'type': 'bed_spot_missed', 'scene': name, 'frame': fr['frame'],
                                           'position': s['centroid_px'], 'area_mm2': s['area_mm2'],
                                           'tbr': s['tbr'], 'frame_flagged': flag, 'conditions': cc})
            per_scene[name] = {'type': 'bed', 'bed': t['bed'], **sacc.summary(),
                               'flags': [bool(((met.get(f['frame'], {}).get('findings') or {}).get('flag', False)))
                                         for f in t['frames']]}
            continue

        # survey
        for fr in t['frames']:
            f = fr['frame']
            m = met.get(f)
            reports = (m or {}).get('lesions') or []
            tl = fr['lesions']
            pairs, status = match_frame(tl, reports, mmpp)
            for A in accs_scene:
                A.add('frames')
            # reports
            for j, (st, ti) in enumerate(status):
                p = reports[j]
                if st == 'partial':
                    continue
                if p.get('kind') == 'rim':
                    for A in accs_scene:
                        A.add('rim_rep')
                        A.add('rim_rep_matched', int(st == 'matched'))
                if st in ('false', 'wrong_kind', 'duplicate'):
                    for A in accs_scene:
                        A.add(st)
                    rec = {'type': st, 'scene': name, 'frame': f, 'position': p['centroid_px'],
                           'kind': p.get('kind'), 'report': {k: p.get(k) for k in
                                                             ['id', 'core_diameter_mm', 'rim_thickness_mm', 'rim_coverage',
                                                              'tbr', 'area_mm2', 'verdict']}, 'conditions': cc}
                    if ti is not None:
                        rec['near_truth'] = {'id': tl[ti]['id'], 'kind': tl[ti]['kind'],
                                             'in_view': tl[ti]['in_view']}
                    misses.append(rec)
            # truth lesions
            for i, l in enumerate(tl):
                if not l['in_view']:
                    continue
                lc = lesion_conditions(l)
                accs = accs_scene + [by_cond[(k, v)] for k, v in lc.items()]
                found = i in pairs
                p = reports[pairs[i]] if found else None
                if l['kind'] == 'rim':
                    gapped = l['gap_deg'] > 0
                    key = 'rim_g' if gapped else 'rim_c'
                    for A in accs:
                        A.add(key)
                        A.add(key + '_found', int(found))
                    if found:
                        tv = 'rim_incomplete' if gapped else ('under_margin' if l['rim_thickness_p5_mm'] < 1.0 else 'ok')
                        rv = p.get('verdict') or 'none'
                        verdicts[(tv, rv)] += 1
                        if rv == 'ok' and tv != 'ok':
                            misses.append({'type': 'unsafe_ok_verdict', 'scene': name, 'frame': f,
                                           'position': l['centroid_px'], 'kind': 'rim', 'truth_verdict': tv,
                                           'truth': {k: l.get(k) for k in ['id', 'shape', 'core_diameter_mm',
                                                     'rim_thickness_median_mm', 'rim_thickness_p5_mm', 'rim_coverage',
                                                     'gap_deg', 'rim_tbr', 'core_level']},
                                           'report': {k: p.get(k) for k in ['id', 'rim_thickness_mm', 'min_rim_thickness_mm',
                                                      'rim_coverage', 'verdict']}, 'conditions': cc})
                        dD = _diff(p.get('core_diameter_mm'), l['core_diameter_mm'])
                        dt = _diff(p.get('rim_thickness_mm'), l['rim_thickness_median_mm'])
                        dtd = _diff(p.get('rim_thickness_mm'), l['rim_thickness_drawn_median_mm'])
                        dtm = _diff(p.get('rim_thickness_mm'), l['rim_thickness_margin_median_mm'])
                        cov = p.get('rim_coverage')
                        for A in accs:
                            A.e('core_d', dD)
                            A.e('core_d_signed', dD)
                            A.e('thick', dt)
                            A.e('thick_signed', dt)
                            A.e('thick_drawn', dtd)
                            A.e('thick_margin', dtm)
                            if cov is not None:
                                if gapped:
                                    A.add('gap_flagged', int(cov < RIM_COMPLETE))
                                else:
                                    A.add('false_gap', int(cov < RIM_COMPLETE))
                            if gapped:
                                A.e('cov', _diff(cov, l['rim_coverage']))
                            else:
                                dm = _diff(p.get('min_rim_thickness_mm'), l['rim_thickness_p5_mm'])
                                A.e('thin', dm)
                                A.e('thin_signed', dm)
                    else:
                        nr = nearest_report(l, reports)
                        misses.append({'type': 'missed_rim', 'scene': name, 'frame': f, 'position': l['centroid_px'],
                                       'kind': 'rim', 'truth': {k: l.get(k) for k in [
                                           'id', 'shape', 'core_diameter_mm', 'rim_thickness_median_mm',
                                           'rim_thickness_p5_mm', 'rim_thickness_drawn_median_mm', 'rim_coverage', 'gap_deg', 'rim_tbr', 'core_level',
                                           'fade', 'patchiness', 'rim_saturated']},
                                       'nearest_report': None if nr is None else {
                                           'dist_mm': round(nr[0] * mmpp, 2), 'kind': nr[1].get('kind'),
                                           'partial': nr[1].get('partial'), 'centroid_px': nr[1].get('centroid_px'),
                                           'core_diameter_mm': nr[1].get('core_diameter_mm')},
                                       'conditions': cc})
                else:
                    key = 'hom' if l['kind'] == 'homogeneous' else 'deep'
                    for A in accs:
                        A.add(key)
                        A.add(key + '_found', int(found))
                    if found and key == 'hom':
                        for A in accs:
                            A.e('hom_d', _diff(p.get('core_diameter_mm'), l['core_diameter_mm']))
                    if not found:
                        nr = nearest_report(l, reports)
                        misses.append({'type': 'missed_' + key, 'scene': name, 'frame': f,
                                       'position': l['centroid_px'], 'kind': l['kind'],
                                       'truth': {k: l.get(k) for k in ['id', 'core_diameter_mm', 'tbr', 'sigma_mm']},
                                       'nearest_report': None if nr is None else {
                                           'dist_mm': round(nr[0] * mmpp, 2), 'kind': nr[1].get('kind'),
                                           'partial': nr[1].get('partial')},
                                       'conditions': cc})
            # masks
            mp = os.path.join(a.out, 'runs', name + '-masks', '%05d.png' % f)
            tp = os.path.join(a.dir, name, 'truth', '%05d.png' % f)
            if os.path.exists(mp):
                pm = np.array(Image.open(mp))
                tm = np.array(Image.open(tp))
                if pm.ndim == 3:
                    pm = pm[..., 0]
                for cname, cval in (('core', 2), ('rim', 1)):
                    P = pm == cval
                    T = tm == cval
                    for A in accs_scene:
                        A.add('dice_%s_tp' % cname, int((P & T).sum()))
                        A.add('dice_%s_p' % cname, int(P.sum()))
                        A.add('dice_%s_t' % cname, int(T.sum()))
        per_scene[name] = {'type': 'survey', **sacc.summary(), 'conditions': cc}

    # ---- tables
    out_lines = []
    ov = overall.summary()
    out_lines.append(table([('ALL', 'draw', ov)], 'OVERALL'))
    order = scene_cond_keys or []
    order = order + ['rim', 'core_level_band', 'rim_tbr_band', 'rim_thick_band', 'core_size_band', 'shape']
    rows = []
    for ck in order:
        vals = sorted(v for (k, v) in by_cond if k == ck)
        for v in vals:
            rows.append((ck, v, by_cond[(ck, v)].summary()))
    out_lines.append(table(rows, '\nPER CONDITION (frame-level columns FP/fr, Dice only for scene-level conditions)'))
    # worst conditions by rim miss rate and by false lesions per frame
    cand = []
    for (ck, v), A in by_cond.items():
        s = A.summary()
        nr = s['rims_complete'] + s['rims_gapped']
        nf = A.n['rim_c_found'] + A.n['rim_g_found']
        if nr >= 5:
            cand.append(('miss', 1 - nf / nr, ck, v, nr))
    cand.sort(key=lambda x: -x[1])
    out_lines.append('\nWORST rim miss rate (conditions with >=5 rims):')
    for c in cand[:8]:
        out_lines.append('  %-16s %-12s miss %.0f%% of %d' % (c[2], c[3], 100 * c[1], c[4]))
    cand = []
    for (ck, v), A in by_cond.items():
        s = A.summary()
        if s['frames'] >= 4:
            cand.append((s['false_per_frame'], ck, v, s['frames']))
    cand.sort(key=lambda x: -x[0])
    out_lines.append('WORST false lesions per frame (scene-level conditions, >=4 frames):')
    for c in cand[:8]:
        out_lines.append('  %-16s %-12s %.2f FP/frame over %d frames' % (c[1], c[2], c[0], c[3]))
    vl = ['\nMARGIN VERDICTS of found rim lesions (rows: truth - gapped=rim_incomplete, complete with 5th-pct '
          'thickness < 1 mm = under_margin, else ok; columns: tool verdict)']
    tvs = ['rim_incomplete', 'under_margin', 'ok']
    rvs = sorted({k[1] for k in verdicts})
    vl.append('  %-16s' % 'truth \\ tool' + ''.join('%16s' % r for r in rvs))
    for tv in tvs:
        vl.append('  %-16s' % tv + ''.join('%16d' % verdicts[(tv, r)] for r in rvs))
    out_lines += vl
    # beds
    bl = ['\nWOUND BEDS']
    bl.append('  clean frames flagged:   %s of %d' % (fmt(ov['bed_clean_flagged'], True), ov['bed_clean_frames']))
    bl.append('  spotted frames flagged: %s of %d   (spots found %s)' % (
        fmt(ov['bed_spotted_flagged'], True), ov['bed_spotted_frames'], fmt(ov['bed_spots_found'], True)))
    bl.append('  frames with any spot reported: clean %s, spotted %s  (the flag is the tool\'s steady flag)' % (
        fmt(ov['bed_clean_with_spots'], True), fmt(ov['bed_spotted_with_spots'], True)))
    nb = {'clean': [0, 0], 'spotted': [0, 0]}
    for name, kind, t in scenes:
        if kind == 'bed':
            nb[t['bed']][0] += int(any(per_scene[name]['flags']))
            nb[t['bed']][1] += 1
    bl.append('  scenes flagged in any frame: clean %d/%d, spotted %d/%d' % (nb['clean'][0], nb['clean'][1],
                                                                           nb['spotted'][0], nb['spotted'][1]))
    for name, kind, t in scenes:
        if kind != 'bed':
            continue
        ps = per_scene[name]
        c = t['conditions']
        nsp = len(t['frames'][0]['spots'])
        nrep = [len(((met_all.get(name, {}).get(f['frame'], {}) or {}).get('findings') or {}).get('spots') or [])
                for f in t['frames']]
        bl.append('  %-6s %-7s reported/frame=%s' % (name, t['bed'], nrep))
        bl.append('  %-6s %-7s spots=%d flags=%s  tex=%s %.0f%% scale=%.3f glints=%d+%d nir-only inst=%d' % (
            name, t['bed'], nsp, ''.join('X' if x else '.' for x in ps['flags']), c['texture_model'],
            c['texture_pct'], t['mm_per_px'], c['n_glints'], c['n_nir_glints'], c['n_instruments']))
    out_lines += bl
    # per scene short table
    sl = ['\nPER SCENE (survey)']
    for name, kind, t in scenes:
        if kind != 'survey':
            continue
        s = per_scene[name]
        c = t['conditions']
        sl.append('  %-5s %9s %.3f %-15s %4.1f%% rims %s FP %d wk %d dup %d  Dc %s Dr %s' % (
            name, '%dx%d' % tuple(t['size']), t['mm_per_px'], c['texture_model'], c['texture_pct'],
            s['found_rim_n'], s['false_total'], s['wrong_kind'], s['duplicates'], fmt(s['dice_core']),
            fmt(s['dice_rim'])))
    out_lines += sl
    text = '\n'.join(out_lines)
    print(text)
    with open(os.path.join(a.out, 'tables.txt'), 'w') as fh:
        fh.write(text + '\n')
    res = {'dir': os.path.abspath(a.dir), 'overall': ov,
           'per_condition': {'%s=%s' % k: A.summary() for k, A in sorted(by_cond.items())},
           'per_scene': per_scene, 'run_rc': rcs,
           'verdicts': {'%s->%s' % k: v for k, v in sorted(verdicts.items())},
           'matching': 'rim/homogeneous: centroid within max(2 mm, 0.6 x truth core radius); deep<->diffuse: '
                       'within max(2 mm, sigma*aspect); greedy one-to-one by distance; partial reports and '
                       'truth lesions not wholly in view are not scored'}
    with open(os.path.join(a.out, 'results.json'), 'w') as fh:
        json.dump(res, fh, indent=1)
    with open(os.path.join(a.out, 'misses.jsonl'), 'w') as fh:
        for r in misses:
            fh.write(json.dumps(r) + '\n')


def _diff(a, b):
    if a is None or b is None:
        return None
    return float(a) - float(b)


if __name__ == '__main__':
    main()
