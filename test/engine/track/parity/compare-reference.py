"""Step 2 of the parity check (see dump-engine.mjs): runs models/sam2/video.py:track_video on the
same frames and prompts and prints the largest logit difference and mask sign flips per prompt."""
import os, sys, numpy as np, torch
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
sys.path.insert(0, ROOT)
D = os.environ.get('PARITY_DIR', '/tmp/parity')
from models.sam2 import build_model
from models.sam2.video import track_video, Prompt
torch.manual_seed(0)
m = build_model('tiny-synth', checkpoint=sys.argv[1]) if len(sys.argv) > 1 else build_model('tiny-synth')
m.eval()
S=256; N=16
fr = np.fromfile(D + '/frames.u8', dtype=np.uint8).reshape(N,S,S,3)
x = torch.from_numpy(fr).permute(0,3,1,2).float()/255.0
x = (x - torch.tensor([0.485,0.456,0.406]).view(1,3,1,1)) / torch.tensor([0.229,0.224,0.225]).view(1,3,1,1)
mask = torch.from_numpy(np.fromfile(D + '/mask.f32', dtype=np.float32).reshape(S,S))
for kind in ['mask','click']:
    px, py = [float(v) for v in os.environ.get('PARITY_POINT', '681,245').split(',')]
    W, H = [float(v) for v in os.environ.get('PARITY_SIZE', '800,360').split(',')]
    p = Prompt(mask=mask) if kind=='mask' else Prompt(points=torch.tensor([[px*S/W, py*S/H]]), labels=torch.tensor([1.0]))
    with torch.no_grad():
        res = track_video(m, x, {0: p})
    ts = np.fromfile(f'{D}/ts-{kind}.f32', dtype=np.float32).reshape(N,64,64)
    worst=0; flips=0
    for i in range(N):
        py = res[i].low_res_masks[0,0].numpy()
        worst=max(worst, float(np.abs(py-ts[i]).max()))
        flips += int(((py>0)!=(ts[i]>0)).sum())
    print(kind, 'max abs diff', worst, 'sign flips', flips, 'of', N*64*64, 'fg px py', int((res[N-1].low_res_masks>0).sum()))
